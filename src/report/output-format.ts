import { isDigest } from '../oci/digest.js';
import { type OutputName, Output } from './outputs.js';

// The documented format of each output. A value reaches a later step's shell through `${{ … }}`,
// so one that does not have its format is never written, whatever produced it.

const HOST = String.raw`(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::[0-9]+)?`;
const REPOSITORY = String.raw`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*`;
const TAG = String.raw`[\w][\w.-]{0,127}`;
const DIGEST = String.raw`sha(?:256|512):[a-f0-9]+`;
/** `host/repo:tag@digest` or `host/repo@digest`. */
const REF = new RegExp(`^${HOST}/${REPOSITORY}(?::${TAG})?@(${DIGEST})$`);
/** `host/repo:sha256-hex`: a referrers tag. */
const REFERRERS_TAG = new RegExp(`^${HOST}/${REPOSITORY}:sha256-[a-f0-9]{64}$`);

const isRef = (value: unknown): boolean => {
  const m = typeof value === 'string' ? REF.exec(value) : null;
  return m !== null && isDigest(m[1]!);
};
const isCount = (value: string): boolean => /^\d+$/.test(value);

function jsonArray(value: string, item: (v: unknown) => boolean): boolean {
  try {
    const parsed: unknown = JSON.parse(value);
    return Array.isArray(parsed) && parsed.every(item);
  } catch {
    return false;
  }
}

function countsObject(value: string): boolean {
  try {
    const parsed: unknown = JSON.parse(value);
    return (
      typeof parsed === 'object' &&
      parsed !== null &&
      !Array.isArray(parsed) &&
      Object.entries(parsed).every(
        ([k, v]) => /^[a-z-]+$/.test(k) && Number.isSafeInteger(v) && (v as number) >= 0,
      )
    );
  } catch {
    return false;
  }
}

const FORMATS: Record<OutputName, (value: string) => boolean> = {
  [Output.digest]: (v) => v === '' || isDigest(v),
  [Output.refs]: (v) => jsonArray(v, isRef),
  [Output.tagsElsewhere]: (v) => jsonArray(v, isRef),
  [Output.referrersTags]: (v) =>
    jsonArray(v, (x) => typeof x === 'string' && REFERRERS_TAG.test(x)),
  [Output.failedBlobs]: (v) => jsonArray(v, (x) => typeof x === 'string' && isDigest(x)),
  [Output.blobsUploaded]: isCount,
  [Output.blobsSkipped]: isCount,
  [Output.bytesUploaded]: isCount,
  [Output.bytesMounted]: isCount,
  [Output.recoveries]: countsObject,
};

/** What each output is when its value lacks its format: empty, as on a push that wrote nothing. */
const EMPTY: Record<OutputName, string> = {
  [Output.digest]: '',
  [Output.refs]: '[]',
  [Output.tagsElsewhere]: '[]',
  [Output.referrersTags]: '[]',
  [Output.failedBlobs]: '[]',
  [Output.blobsUploaded]: '0',
  [Output.blobsSkipped]: '0',
  [Output.bytesUploaded]: '0',
  [Output.bytesMounted]: '0',
  [Output.recoveries]: '{}',
};

/**
 * The outputs with every value checked against its documented format; a value without it is
 * replaced by the output's empty value and named in `refused`, so the shell can say so.
 */
export function checkedOutputs(values: Record<OutputName, string>): {
  values: Record<OutputName, string>;
  refused: OutputName[];
} {
  const out = { ...values };
  const refused: OutputName[] = [];
  for (const name of Object.keys(values) as OutputName[]) {
    if (FORMATS[name](values[name])) continue;
    out[name] = EMPTY[name];
    refused.push(name);
  }
  return { values: out, refused };
}
