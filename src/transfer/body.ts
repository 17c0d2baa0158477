import { readPieces } from '../oci/blob-reader.js';

export { checkFileDigest, fileBody } from '../oci/blob-reader.js';

/** A body factory over a byte range of a file; each call reads afresh, so a retry rereads it. */
export function fileRange(
  path: string,
  start: number,
  length: number,
): () => AsyncIterable<Buffer> {
  return () => readPieces(path, start, length);
}
