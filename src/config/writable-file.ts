import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { UsageError } from '../util/errors.js';

/**
 * A file oci-push writes after the push (`--summary-file`, `digest-file`) is checked before it: a
 * file that cannot be written must not fail, or go missing from, a push that already happened.
 * `name` is how the user gave it (`--summary-file`, `digest-file`).
 */
export async function checkWritableFolder(name: string, file: string): Promise<void> {
  const folder = dirname(resolve(file));
  const info = await stat(folder).catch(() => undefined);
  if (!info?.isDirectory())
    throw new UsageError(`${name} ${file}: the folder ${folder} does not exist`);
  await access(folder, constants.W_OK).catch(() => {
    throw new UsageError(`${name} ${file}: the folder ${folder} is not writable`);
  });
}
