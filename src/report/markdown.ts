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

/**
 * A markdown code span for a value such as a URL or a digest: its text is shown exactly, with no
 * entity or backslash decoding (so `&digest=` and `?_state=` read as they are). The fence is longer
 * than any run of backticks inside, and a `|` is escaped so a table cell stays one cell.
 */
export function code(text: string): string {
  const flat = text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
  const longest = Math.max(0, ...(flat.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = flat.startsWith('`') || flat.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${flat}${pad}${fence}`;
}

export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** A collapsed section: GitHub renders the summary line and hides the rest until clicked. */
export function details(summary: string, body: string[]): string[] {
  return [`<details><summary>${summary}</summary>`, '', ...body, '', '</details>', ''];
}
