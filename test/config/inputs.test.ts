import { describe, expect, it } from 'vitest';
import type { InputName } from '../../src/config/inputs.js';
import { readPushSettings, parseSize, splitList } from '../../src/config/settings.js';

const base: Partial<Record<InputName, string>> = { layout: './layout', tags: 'ghcr.io/o/a:1' };
const parse = (extra: Partial<Record<InputName, string>> = {}) =>
  readPushSettings((name) => ({ ...base, ...extra })[name] ?? '');

describe('readPushSettings', () => {
  it('applies the defaults', async () => {
    expect(await parse()).toMatchObject({
      insecure: false,
      transfer: { concurrency: 4, retries: 5, mode: 'auto', chunkSize: 50 * 2 ** 20 },
      summary: true,
    });
  });

  it('reads every boolean one way', async () => {
    for (const [text, value] of [
      ['true', true],
      ['YES', true],
      ['on', true],
      ['1', true],
      ['false', false],
      ['No', false],
      ['off', false],
      ['0', false],
    ] as const)
      expect((await parse({ insecure: text })).insecure).toBe(value);
  });

  it('reads the CA file once, into the settings', async () => {
    await expect(parse({ 'ca-file': '/nonexistent/ca.pem' })).rejects.toThrow(
      /ca-file \/nonexistent\/ca.pem: cannot read \(ENOENT\)/,
    );
  });

  it('refuses a target that is a registry, or a bare word that would silently be Docker Hub', async () => {
    await expect(parse({ tags: '127.0.0.1:5101' })).rejects.toThrow(
      /"127.0.0.1:5101" is a registry \(HOST:PORT\), not an image: add the repository/,
    );
    await expect(parse({ tags: 'ghcr.io/o/a:1, v' })).rejects.toThrow(
      /"v" names no registry and no tag: it would be Docker Hub's docker.io\/library\/v/,
    );
    const ok = await parse({ tags: 'user/app:1, alpine:3.20' });
    expect(ok.tags.map((t) => t.repository)).toEqual(['user/app', 'library/alpine']);
  });

  it('splits tags on newlines and commas', async () => {
    const inputs = await parse({
      tags: 'ghcr.io/o/a:1, ghcr.io/o/a:2\n\ndocker.io/library/alpine',
    });
    expect(inputs.tags.map((t) => `${t.registry}/${t.repository}:${t.tag ?? ''}`)).toEqual([
      'ghcr.io/o/a:1',
      'ghcr.io/o/a:2',
      'docker.io/library/alpine:',
    ]);
  });

  it.each([
    [{ 'upload-mode': 'fast' }, /upload-mode: expected auto, monolithic, chunked/],
    [{ 'chunk-size': '1KB' }, /chunk-size: expected a size/],
    [{ 'chunk-size': 'lots' }, /chunk-size/],
    [{ concurrency: '0' }, /concurrency: must be between 1 and 64/],
    [{ retries: '-1' }, /retries: expected a whole number/],
    [{ insecure: 'maybe' }, /insecure: expected true or false/],
    [{ username: 'u' }, /username and password go together/],
    [{ tags: '' }, /tags is required/],
    [{ layout: '' }, /exactly one of the inputs layout .*, image .* and index-from/],
    [{ image: 'app:1' }, /exactly one of the inputs layout/],
    [{ engine: 'lxc' }, /engine: expected auto, docker, podman/],
    [{ compression: 'zstd' }, /compression: expected gzip, none/],
  ] as [Partial<Record<InputName, string>>, RegExp][])('refuses %j', async (extra, message) => {
    await expect(parse(extra)).rejects.toThrow(message);
  });
});

describe('parseSize', () => {
  it.each([
    ['50MiB', 50 * 2 ** 20],
    ['100MB', 100e6],
    ['1 GiB', 2 ** 30],
    ['2kb', 2000],
    ['1.5KiB', 1536],
    ['1048576', 1048576],
    ['12B', 12],
  ])('%s', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(['', 'MiB', '10 TB', '-5MB', 'ten'])('refuses %j', (text) => {
    expect(parseSize(text)).toBeUndefined();
  });
});

describe('splitList', () => {
  it('drops blanks', () => {
    expect(splitList(' a ,\n b,,\n')).toEqual(['a', 'b']);
  });
});
