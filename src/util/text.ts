/**
 * Text from outside (a registry's message, a header, a URL, a name in an archive) as one printable
 * line: line breaks and other control characters are shown as escapes, never obeyed, so nothing in it
 * can start a line of its own (a workflow command such as `::set-output`) or move a terminal's cursor.
 */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return ' ';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}
