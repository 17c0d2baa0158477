import { describe, expect, it } from 'vitest';
import { escapeMarkdown } from '../../src/report/markdown.js';
import { SecretMasker, secretForms } from '../../src/report/secrets.js';

describe('secret forms', () => {
  const secret = 'p_a\tss*[w]"d%/';
  it('covers the raw, one-line, JSON, markdown, URL and multi-line forms', () => {
    const forms = secretForms(secret);
    for (const form of [
      secret,
      'p_a ss*[w]"d%/',
      JSON.stringify(secret).slice(1, -1),
      escapeMarkdown(secret),
      escapeMarkdown(JSON.stringify(secret).slice(1, -1)),
      encodeURIComponent(secret),
    ])
      expect(forms).toContain(form);
    expect(secretForms('line-one\nline-two')).toEqual(
      expect.arrayContaining(['line-one', 'line-two', 'line-one\\nline-two']),
    );
  });

  it('masks every form, longest first, and ignores values too short to be a secret', () => {
    const masker = new SecretMasker();
    expect(masker.add(secret).length).toBeGreaterThan(4);
    expect(masker.add(secret)).toEqual([]);
    masker.add('ab');
    const text = `a ${secret} b ${escapeMarkdown(secret)} c ${encodeURIComponent(secret)} ab`;
    expect(masker.mask(text)).toBe('a *** b *** c *** ab');
  });
});

describe('secrets as tokens', () => {
  it('an alphanumeric secret is masked where it stands alone, not inside other words', () => {
    const masker = new SecretMasker();
    masker.add('hey');
    expect(masker.mask('they said hey, then HEYhey and hey123 and "hey"')).toBe(
      'they said ***, then HEYhey and hey123 and "***"',
    );
  });

  it('in a URL, a header or JSON it is still a token', () => {
    const masker = new SecretMasker();
    masker.add('S3cretToken9');
    expect(masker.mask('GET /x?token=S3cretToken9&a=1 Authorization: Bearer S3cretToken9')).toBe(
      'GET /x?token=***&a=1 Authorization: Bearer ***',
    );
  });
});
