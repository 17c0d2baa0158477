import { MAX_FOREIGN, foreignLine } from '../util/text.js';

/** Characters with a meaning in HTML, written as entities so that no tag or attribute can form. */
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };

/**
 * Text for a markdown line, shown as it is and never as markup. It is made one bounded line first
 * (a bare `\r` or U+2028 would start a block of its own: a heading, a table, a link definition).
 * Then whatever could open markup is escaped: emphasis, code, links and images (their brackets),
 * tables and HTML everywhere; autolinks (`https://`, `www.`, `a@b`); and block markers at the start of the line
 * (`- `, `1. `, `> `, `#`).
 */
export function escapeMarkdown(text: string, max = MAX_FOREIGN): string {
  return foreignLine(text, max)
    .replace(/[\\`*_[\]|~<>&"]/g, (c) => ENTITIES[c] ?? `\\${c}`)
    .replace(/:\/\//g, '\\:\\/\\/')
    .replace(/\b(www)\./gi, '$1\\.')
    .replace(/@/g, '\\@')
    .replace(/^(\d+)([.)])/, '$1\\$2')
    .replace(/^([-+=:#])/, '\\$1');
}

/**
 * A markdown code span for a value such as a URL, a digest or a registry's words: its text is shown
 * exactly (no markup, no autolink, no entity or backslash decoding), on one bounded line. The fence is
 * longer than any run of backticks inside, and a `|` is escaped so a table cell stays one cell.
 */
export function code(text: string, max = MAX_FOREIGN): string {
  const flat = foreignLine(text, max).replace(/\|/g, '\\|');
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
