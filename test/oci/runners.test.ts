import { win32 } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseLayoutSpec, tempRoot } from '../../src/oci/source.js';
import { helperProgram, podmanAuthPaths } from '../../src/registry/credentials.js';

// What differs on Windows and macOS runners, checked with Windows paths on any machine.
const on = (paths: string[]) => async (p: string) => paths.includes(p);

describe('Windows runners', () => {
  it('a layout path with a drive letter and backslashes is a path, and :REF still splits', async () => {
    const files = ['C:\\a\\_work\\layout', 'D:\\images\\app.tar', 'C:/a/layout'];
    expect(await parseLayoutSpec('C:\\a\\_work\\layout', on(files))).toEqual({
      path: 'C:\\a\\_work\\layout',
    });
    expect(await parseLayoutSpec('D:\\images\\app.tar:localhost/app:1', on(files))).toEqual({
      path: 'D:\\images\\app.tar',
      ref: 'localhost/app:1',
    });
    expect(await parseLayoutSpec('C:/a/layout:v1', on(files))).toEqual({
      path: 'C:/a/layout',
      ref: 'v1',
    });
    // "C" alone is never tried as the path with "\\missing" as its REF.
    const tried: string[] = [];
    await expect(
      parseLayoutSpec('C:\\missing', async (p) => (tried.push(p), false)),
    ).rejects.toThrow('layout C:\\missing: no such file or directory');
    expect(tried).toEqual(['C:\\missing']);
  });

  it('credential helpers are .exe programs', () => {
    expect(helperProgram('wincred', 'win32')).toBe('docker-credential-wincred.exe');
    expect(helperProgram('desktop', 'darwin')).toBe('docker-credential-desktop');
    expect(helperProgram('pass', 'linux')).toBe('docker-credential-pass');
  });

  it("podman's auth.json is under the profile's .config, where podman machine keeps it", () => {
    expect(podmanAuthPaths({}, 'C:\\Users\\runneradmin', win32.join)).toEqual([
      'C:\\Users\\runneradmin\\.config\\containers\\auth.json',
    ]);
    expect(
      podmanAuthPaths({ XDG_RUNTIME_DIR: '/run/user/1001' }, '/home/runner', win32.join)[0],
    ).toBe('\\run\\user\\1001\\containers\\auth.json');
    expect(podmanAuthPaths({ REGISTRY_AUTH_FILE: 'D:\\auth.json' }, 'C:\\x', win32.join)).toEqual([
      'D:\\auth.json',
    ]);
  });

  it('temporary files go to RUNNER_TEMP as the runner names it', () => {
    const saved = process.env.RUNNER_TEMP;
    process.env.RUNNER_TEMP = 'D:\\a\\_temp';
    try {
      expect(tempRoot()).toBe('D:\\a\\_temp');
    } finally {
      if (saved === undefined) delete process.env.RUNNER_TEMP;
      else process.env.RUNNER_TEMP = saved;
    }
  });
});
