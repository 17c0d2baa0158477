import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { USAGE } from '../../src/config/cli-args.js';
import { EXPRESSION_DEFAULTS, INPUT_DEFAULTS, type InputName } from '../../src/config/inputs.js';
import { parseSize } from '../../src/config/settings.js';
import { CHUNK_FLOOR } from '../../src/transfer/policy.js';

// Facts said in more than one place must agree with each other and with the code: the chunk floor,
// the exit codes, when the digest output is empty, the inputs and their defaults.
const ROOT = join(import.meta.dirname, '..', '..');
const read = (...path: string[]): string => readFileSync(join(ROOT, ...path), 'utf8');
const readme = read('README.md');
const actionYml = read('action.yml');
const action = parse(actionYml) as {
  inputs: Record<string, { description: string; default?: string }>;
  outputs: Record<string, { description: string }>;
};
const docs = readdirSync(join(ROOT, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .map((f) => ({ name: `docs/${f}`, text: read('docs', f) }));
const everywhere = [
  { name: 'README.md', text: readme },
  { name: 'action.yml', text: actionYml },
  { name: '--help', text: USAGE },
  ...docs,
];

describe('facts stated in several places', () => {
  it('the README is one page: at most 250 lines', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(250);
  });

  it('the chunk floor is the code’s everywhere it is stated', () => {
    let stated = 0;
    for (const { name, text } of everywhere)
      for (const m of text.matchAll(/(?:never|not) below (\d+(?:\.\d+)? ?[KMG]i?B)/g)) {
        stated++;
        expect(parseSize(m[1] as string), `${name}: ${m[0]}`).toBe(CHUNK_FLOOR);
      }
    expect(stated).toBeGreaterThanOrEqual(3);
  });

  it('the exit codes: the README and --help say the same', () => {
    const codes = (text: string): string[] =>
      [
        ...(text.match(/Exit codes:([\s\S]*?)\.(?:\s|$)/)?.[1] ?? '').matchAll(/`?(\d{1,3})`?/g),
      ].map((m) => m[1] as string);
    expect(codes(readme)).toEqual(['0', '1', '2', '130', '143']);
    expect(codes(USAGE)).toEqual(codes(readme));
    expect(USAGE).toMatch(/diagnose exits 1 only when a check fails that a push cannot get past/);
    expect(readme).toMatch(
      /`diagnose` exits `1` only when a check fails that a push\s+cannot get past/,
    );
  });

  it('the digest output: the README says what action.yml says', () => {
    const row = readme.match(/^\| `digest` +\| (.*?) +\|$/m)?.[1];
    expect(row).toBeDefined();
    expect(action.outputs.digest!.description.startsWith(row!)).toBe(true);
  });

  it('every input is in the README, with action.yml’s default', () => {
    const rows = new Map<string, string>();
    for (const m of readme.matchAll(/^\| ((?:`[a-z-]+`(?:, )?)+) +\| ([^|]*?) +\|/gm))
      for (const name of (m[1] as string).match(/[a-z-]+/g) ?? [])
        rows.set(name, (m[2] as string).trim());
    for (const [name, input] of Object.entries(action.inputs)) {
      expect(rows.has(name), `input ${name} in the README`).toBe(true);
      const fallback =
        INPUT_DEFAULTS[name as InputName] ?? EXPRESSION_DEFAULTS[name as InputName] ?? '';
      expect(input.default ?? '', `action.yml default of ${name}`).toBe(fallback);
      const shown = rows.get(name)!;
      if (name === 'tags') expect(shown).toBe('(required)');
      else expect(shown, `README default of ${name}`).toBe(fallback ? `\`${fallback}\`` : '');
    }
  });
});
