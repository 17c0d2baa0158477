import { Marked } from 'marked';

/** What a GitHub-flavoured renderer makes of a page: its HTML and the elements that matter. */
export interface RenderedPage {
  html: string;
  links: string[];
  images: string[];
  headings: string[];
  /** Raw HTML tags other than the ones the project writes itself (details, summary). */
  tags: string[];
}

const marked = new Marked({ gfm: true, breaks: false });

/** Renders markdown as GitHub does (GFM: tables, autolinks, raw HTML passed through). */
export function renderGfm(markdown: string): RenderedPage {
  const html = marked.parse(markdown, { async: false });
  const all = (re: RegExp): string[] => [...html.matchAll(re)].map((m) => m[1] ?? '');
  return {
    html,
    links: all(/<a\s[^>]*href="([^"]*)"/g),
    images: all(/<img\s[^>]*src="([^"]*)"/g),
    headings: all(/<h[1-6][^>]*>([\s\S]*?)<\/h[1-6]>/g),
    tags: all(/<(\/?[a-z][a-z0-9]*)/gi).filter(
      (t) =>
        !/^\/?(p|h[1-6]|ul|ol|li|code|strong|em|table|thead|tbody|tr|th|td|details|summary|blockquote|br|hr|pre)$/i.test(
          t,
        ),
    ),
  };
}

/** Registry text written to become markup: links, images, headings, HTML, tables, line breaks. */
export const HOSTILE_TEXTS = [
  'ok\r## ✅ oci-push: pushed (FAKE)\r[Click here to fix](https://evil.example/fix)',
  '\r![tracker](https://evil.example/pixel.png)\r',
  'see https://evil.example/a and www.evil.example and mail@evil.example',
  '<img src=https://evil.example/x.png onerror=alert(1)><a href="https://evil.example">x</a>',
  '\u2028# heading by U+2028\u2029### by U+2029\u0085#### by NEL',
  '| a | b |\r|---|---|\r| [x](https://evil.example) | y |',
  '`` `code` `` ``` fence ```\r```\r[ref]: https://evil.example\r[ref]',
  '<details open><summary>fake</summary>',
  '<https://evil.example/autolink> [x][1]\r\r[1]: https://evil.example/ref',
  '\u202eevil-reversed\u202c and \u200bzero width',
];
