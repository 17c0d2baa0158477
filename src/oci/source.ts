import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { extractArchive } from './archive.js';
import type { LoadedImage } from './image.js';
import { type LayoutSelection, loadLayout } from './layout.js';

/** Where temporary files go: the runner's temp folder when there is one, so the runner cleans it too. */
export function tempRoot(): string {
  return process.env.RUNNER_TEMP || tmpdir();
}

export async function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tempRoot(), prefix));
}

/**
 * Splits `PATH[:REF]` the way skopeo's oci: transport does, except that a path which exists as
 * written wins, so a folder whose name holds a colon still works.
 */
export async function parseLayoutSpec(spec: string): Promise<{ path: string; ref?: string }> {
  if (await stat(spec).catch(() => undefined)) return { path: spec };
  const colon = spec.lastIndexOf(':');
  if (colon > 0) {
    const path = spec.slice(0, colon);
    const ref = spec.slice(colon + 1);
    if (ref && (await stat(path).catch(() => undefined))) return { path, ref };
  }
  throw new InputError(`layout ${spec}: no such file or directory`);
}

/** Opens the `layout` input: a layout folder, or a tar (optionally gzipped) of one. */
export async function openLayoutSource(spec: string): Promise<LoadedImage> {
  const { path, ref } = await parseLayoutSpec(spec);
  const info = await stat(path);
  if (info.isDirectory()) return loadLayout({ dir: path, ref });
  const dir = await makeTempDir('oci-push-layout-');
  const cleanup = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    await extractArchive(path, dir);
    const selection: LayoutSelection = { dir, ref };
    const image = await loadLayout(selection).catch((error: unknown) => {
      if (error instanceof InputError) throw new InputError(error.message.split(dir).join(path));
      throw error;
    });
    return { ...image, source: `oci archive ${path}${ref ? `:${ref}` : ''}`, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
