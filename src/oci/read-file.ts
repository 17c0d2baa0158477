import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { InputError } from '../util/errors.js';

/** Registries refuse manifests and indexes over 4 MiB: no JSON document of a layout is larger. */
export const MAX_DOCUMENT_BYTES = 4 << 20;

/**
 * Reads a small file that must be a regular file: a FIFO would hang the read forever and a device
 * (a link to /dev/zero) would fill memory, so both are refused by what the open file is, as is a
 * file over `max` bytes. The label names the file in the error.
 */
export async function readRegularFile(
  path: string,
  label: string,
  max = MAX_DOCUMENT_BYTES,
): Promise<Buffer> {
  let handle;
  try {
    // O_NONBLOCK: opening a FIFO with no writer must not wait for one.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new InputError(
      `${label}: cannot read (${(error as NodeJS.ErrnoException).code ?? error})`,
    );
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new InputError(`${label}: not a regular file`);
    if (info.size > max)
      throw new InputError(
        `${label}: ${info.size} bytes, over the ${max >> 20} MiB limit for a JSON document`,
      );
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}
