import { oneLine } from '../util/text.js';
import { code, escapeMarkdown } from './markdown.js';

/** Shorter values would mask ordinary words and digits; no credential is this short. */
const MIN_SECRET = 3;

/**
 * Every form in which a secret can be shown: as it is, as one log line (a tab becomes a space, a
 * newline `\n`), JSON-escaped and URL-encoded (as a registry may echo it), and each of those again
 * as the summary shows text (markdown-escaped, in a code span) or JSON does; each line of a
 * multi-line one on its own too, since a runner masks line by line.
 */
export function secretForms(value: string): string[] {
  const json = (v: string): string => JSON.stringify(v).slice(1, -1);
  const inCode = (v: string): string =>
    code(v, Number.MAX_SAFE_INTEGER).replace(/^`+ ?| ?`+$/g, '');
  const bases = [value, oneLine(value), json(value), encodeURIComponent(value)];
  const forms = bases.flatMap((b) => [
    b,
    json(b),
    escapeMarkdown(b, Number.MAX_SAFE_INTEGER),
    inCode(b),
  ]);
  forms.push(...value.split(/\r?\n/));
  return [...new Set(forms)].filter((f) => f.length >= MIN_SECRET);
}

/** Replaces every registered secret, in every form it can take; longest first, so no part of one shows. */
export class SecretMasker {
  private secrets: string[] = [];

  /** Registers a secret's forms; returns the ones not registered before. */
  add(value: string): string[] {
    const added = secretForms(value).filter((f) => !this.secrets.includes(f));
    if (!added.length) return [];
    this.secrets.push(...added);
    this.secrets.sort((a, b) => b.length - a.length);
    return added;
  }

  /**
   * Each secret where it stands as a token: a secret made of letters and digits is masked where no
   * letter or digit touches it, so a password that is an ordinary word does not cut other words
   * apart ("they", with the password "hey"); one with other characters, everywhere. In the action
   * the runner masks the log as it does (every occurrence); this is what oci-push writes itself.
   */
  mask(text: string): string {
    let out = text;
    for (const secret of this.secrets) {
      if (!/^[A-Za-z0-9]+$/.test(secret)) out = out.split(secret).join('***');
      else out = out.replace(new RegExp(`(?<![A-Za-z0-9])${secret}(?![A-Za-z0-9])`, 'g'), '***');
    }
    return out;
  }
}
