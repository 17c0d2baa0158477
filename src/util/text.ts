/**
 * Characters that move, hide or reorder text: C0 and C1 controls, DEL, line and paragraph
 * separators, zero-width characters, bidirectional overrides and isolates, and the byte order mark.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/**
 * Text from outside (a registry's message, a header, a URL, a name in an archive) as one printable
 * line: line breaks and other control characters are shown as escapes, never obeyed, so nothing in it
 * can start a line of its own (a workflow command such as `::set-output`), move a terminal's cursor,
 * or reorder what a reader sees.
 */
export function oneLine(text: string): string {
  return text.replace(INVISIBLE, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return ' ';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/** At most `max` characters, with an ellipsis saying some were cut. */
export function capped(text: string, max: number): string {
  if (text.length <= max) return text;
  // Never cut a surrogate pair in two.
  const end = /[\ud800-\udbff]/.test(text[max - 2] ?? '') ? max - 2 : max - 1;
  return `${text.slice(0, end)}…`;
}

/** The longest foreign text shown in one place: enough to read, too short to fill a page. */
export const MAX_FOREIGN = 400;

/** Foreign text for a log line, an annotation or a terminal: one line, bounded. */
export function foreignLine(text: string, max = MAX_FOREIGN): string {
  return capped(oneLine(text), max);
}
