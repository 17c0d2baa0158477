/** Escapes text for markdown and inline HTML: nothing a registry or a user wrote may become markup. */
export function escapeMarkdown(text: string): string {
  return (
    text
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      // Strings land mid-line, so only inline markup matters: no brackets means no link can form.
      .replace(/([\\`*_{}[\]|~])/g, '\\$1')
      .replace(/\r?\n/g, ' ')
  );
}

/** Inline code for a value such as a digest; backticks cannot occur in one, but guard anyway. */
export function code(text: string): string {
  return `<code>${text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/`/g, "'")}</code>`;
}

export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
