import { readFile } from 'node:fs/promises';
import { InputError } from '../util/errors.js';

/** The ca-file input, read once; an unreadable file is the user's input error, named. */
export async function readCa(path: string | undefined): Promise<string | undefined> {
  if (!path) return undefined;
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (error) {
    throw new InputError(
      `ca-file ${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? error})`,
    );
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new InputError(`ca-file ${path}: no PEM certificate in it`);
  return pem;
}
