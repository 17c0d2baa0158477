import { describe, expect, it } from 'vitest';
import { code, escapeMarkdown } from '../../src/report/markdown.js';
import { HOSTILE_TEXTS, renderGfm } from '../support/gfm.js';

describe('registry text is inert in markdown', () => {
  it.each(HOSTILE_TEXTS)('escapeMarkdown %j renders as text only', (text) => {
    const md = `- **Registry answered:** ${escapeMarkdown(text)}`;
    expect(md).not.toMatch(/[\r\n\u2028\u2029\u0085]/);
    const page = renderGfm(md);
    expect(page.links).toEqual([]);
    expect(page.images).toEqual([]);
    expect(page.headings).toEqual([]);
    expect(page.tags).toEqual([]);
    expect(page.html.match(/<li>/g)?.length).toBe(1);
  });

  it.each(HOSTILE_TEXTS)('code %j renders as one code span', (text) => {
    const md = `| a | b |\n| --- | --- |\n| ${code(text)} | x |`;
    expect(md.split('\n')).toHaveLength(3);
    const page = renderGfm(md);
    expect(page.links).toEqual([]);
    expect(page.images).toEqual([]);
    expect(page.headings).toEqual([]);
    expect(page.tags).toEqual([]);
    expect(page.html.match(/<td>/g)).toHaveLength(2);
  });

  it.each([
    '- item',
    '+ item',
    '1. item',
    '2) item',
    '> quote',
    '# heading',
    '=== x',
    ...HOSTILE_TEXTS,
  ])('escapeMarkdown %j at the start of a paragraph stays one paragraph of text', (text) => {
    const page = renderGfm(`intro\n\n${escapeMarkdown(text)}\n\nafter`);
    expect(page.html.match(/<p>/g)).toHaveLength(3);
    expect(page.links).toEqual([]);
    expect(page.headings).toEqual([]);
    expect(page.tags).toEqual([]);
  });

  it('shows the text itself, escaped, and bounded', () => {
    const page = renderGfm(escapeMarkdown('a_b *c* [d](e) 1.2'));
    expect(page.html).toContain('a_b *c* [d](e) 1.2');
    expect(escapeMarkdown('x'.repeat(5000)).length).toBeLessThan(500);
    expect(code('y'.repeat(5000)).length).toBeLessThan(500);
    // A bare CR is shown as the two characters `\r`, its backslash escaped for markdown.
    expect(escapeMarkdown('a\rb')).toBe('a\\\\rb');
    expect(renderGfm(escapeMarkdown('a\rb')).html).toContain('a\\rb');
  });
});
