import { UsageError } from './errors.js';
import type { Credentials } from './registry/auth.js';
import { type ImageReference, parseReference } from './registry/reference.js';
import type { Compression } from './oci/docker-archive.js';
import type { Engine } from './oci/engine-export.js';
import type { UploadMode } from './upload/options.js';

/** Input names, shared by action.yml, the action and the CLI's flags. */
export const Input = {
  layout: 'layout',
  image: 'image',
  engine: 'engine',
  compression: 'compression',
  tags: 'tags',
  username: 'username',
  password: 'password',
  insecure: 'insecure',
  concurrency: 'concurrency',
  retries: 'retries',
  uploadMode: 'upload-mode',
  chunkSize: 'chunk-size',
  summary: 'summary',
  diagnose: 'diagnose',
  caFile: 'ca-file',
  githubToken: 'github-token',
  pushByDigest: 'push-by-digest',
  indexFrom: 'index-from',
} as const;

export type InputName = (typeof Input)[keyof typeof Input];

/** Defaults, which action.yml must repeat exactly (a test checks it). */
export const INPUT_DEFAULTS: Partial<Record<InputName, string>> = {
  [Input.engine]: 'auto',
  [Input.compression]: 'gzip',
  [Input.insecure]: 'false',
  [Input.concurrency]: '4',
  [Input.retries]: '5',
  [Input.uploadMode]: 'auto',
  [Input.chunkSize]: '50MiB',
  [Input.summary]: 'true',
  [Input.diagnose]: 'on-failure',
  [Input.pushByDigest]: 'false',
};

/** Defaults that are workflow expressions: action.yml has them, the runner evaluates them. */
export const EXPRESSION_DEFAULTS: Partial<Record<InputName, string>> = {
  [Input.githubToken]: '${{ github.token }}',
};

export const Output = {
  digest: 'digest',
  refs: 'refs',
  blobsUploaded: 'blobs-uploaded',
  blobsSkipped: 'blobs-skipped',
  bytesUploaded: 'bytes-uploaded',
  failedBlobs: 'failed-blobs',
} as const;

export type OutputName = (typeof Output)[keyof typeof Output];

export interface Inputs {
  /** Exactly one of layout, image and indexFrom is set. */
  layout?: string;
  image?: string;
  /** Manifests already in the registry (digests or references) to assemble into an index. */
  indexFrom: string[];
  pushByDigest: boolean;
  /** Path of a PEM file of extra trusted CA certificates. */
  caFile?: string;
  /** For ghcr.io when no other credentials are found. */
  githubToken?: string;
  engine: Engine;
  compression: Compression;
  tags: ImageReference[];
  credentials?: Credentials;
  insecure: boolean;
  concurrency: number;
  retries: number;
  uploadMode: UploadMode;
  chunkSize: number;
  summary: boolean;
  diagnose: DiagnoseWhen;
}

export type DiagnoseWhen = 'on-failure' | 'never';
const DIAGNOSE_WHEN: readonly DiagnoseWhen[] = ['on-failure', 'never'];

const UPLOAD_MODES: readonly UploadMode[] = ['auto', 'monolithic', 'chunked'];
const ENGINES: readonly Engine[] = ['auto', 'docker', 'podman'];
const COMPRESSIONS: readonly Compression[] = ['gzip', 'none'];
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1 << 10,
  mib: 1 << 20,
  gib: 1 << 30,
};

/** `50MiB`, `100 MB`, `1048576`: a byte count, or undefined when it is not one. */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return undefined;
  const unit = (m[2] ?? '').toLowerCase() || 'b';
  const factor = SIZE_UNITS[unit];
  if (factor === undefined) return undefined;
  const bytes = Math.round(Number(m[1]) * factor);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

function parseBoolean(name: string, value: string): boolean {
  if (/^(true|yes|on|1)$/i.test(value)) return true;
  if (/^(false|no|off|0)$/i.test(value)) return false;
  throw new UsageError(`input ${name}: expected true or false, got ${JSON.stringify(value)}`);
}

function parseInteger(name: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value.trim()))
    throw new UsageError(`input ${name}: expected a whole number, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < min || n > max)
    throw new UsageError(`input ${name}: must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** Splits on newlines and commas; blank entries and surrounding space are dropped. */
export function splitList(value: string): string[] {
  return value
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Parses every input once into a typed object. `get` returns '' for an unset input, as
 * core.getInput does; defaults apply here so the CLI and the action agree.
 */
export function parseInputs(get: (name: InputName) => string): Inputs {
  const value = (name: InputName): string => get(name).trim() || INPUT_DEFAULTS[name] || '';
  const layout = value(Input.layout) || undefined;
  const image = value(Input.image) || undefined;
  const indexFrom = splitList(get(Input.indexFrom));
  if ([layout, image, indexFrom.length ? 'index' : undefined].filter(Boolean).length !== 1) {
    throw new UsageError(
      `exactly one of the inputs ${Input.layout} (an OCI layout folder or archive), ${Input.image} (a local image in docker or podman) and ${Input.indexFrom} (manifests to assemble into an index) is required`,
    );
  }
  const engine = value(Input.engine) as Engine;
  if (!ENGINES.includes(engine))
    throw new UsageError(
      `input ${Input.engine}: expected auto, docker or podman, got ${JSON.stringify(engine)}`,
    );
  const compression = value(Input.compression) as Compression;
  if (!COMPRESSIONS.includes(compression))
    throw new UsageError(
      `input ${Input.compression}: expected gzip or none, got ${JSON.stringify(compression)}`,
    );
  const tagList = splitList(get(Input.tags));
  if (!tagList.length)
    throw new UsageError(
      `input ${Input.tags} is required: at least one reference like registry.example.com/team/app:1.0`,
    );
  const pushByDigest = parseBoolean(Input.pushByDigest, value(Input.pushByDigest));
  // With push-by-digest the references name repositories only: nothing is tagged.
  const tags = tagList
    .map(parseReference)
    .map((t) => (pushByDigest ? { ...t, tag: undefined } : t));

  const username = get(Input.username).trim();
  const password = get(Input.password);
  if (Boolean(username) !== Boolean(password)) {
    throw new UsageError(
      `inputs ${Input.username} and ${Input.password} go together: set both or neither`,
    );
  }

  const uploadMode = value(Input.uploadMode) as UploadMode;
  if (!UPLOAD_MODES.includes(uploadMode)) {
    throw new UsageError(
      `input ${Input.uploadMode}: expected one of ${UPLOAD_MODES.join(', ')}, got ${JSON.stringify(uploadMode)}`,
    );
  }
  const chunkText = value(Input.chunkSize);
  const chunkSize = parseSize(chunkText);
  if (chunkSize === undefined || chunkSize < 1 << 20 || chunkSize > 5 * 2 ** 30) {
    throw new UsageError(
      `input ${Input.chunkSize}: expected a size from 1MiB to 5GiB such as 50MiB or 100MB, got ${JSON.stringify(chunkText)}`,
    );
  }

  const diagnose = value(Input.diagnose) as DiagnoseWhen;
  if (!DIAGNOSE_WHEN.includes(diagnose)) {
    throw new UsageError(
      `input ${Input.diagnose}: expected on-failure or never, got ${JSON.stringify(diagnose)}`,
    );
  }

  return {
    layout,
    image,
    indexFrom,
    pushByDigest,
    caFile: value(Input.caFile) || undefined,
    githubToken: get(Input.githubToken).trim() || undefined,
    engine,
    compression,
    tags,
    credentials: username
      ? { username, password, source: 'the username and password inputs' }
      : undefined,
    insecure: parseBoolean(Input.insecure, value(Input.insecure)),
    concurrency: parseInteger(Input.concurrency, value(Input.concurrency), 1, 64),
    retries: parseInteger(Input.retries, value(Input.retries), 0, 20),
    uploadMode,
    chunkSize,
    summary: parseBoolean(Input.summary, value(Input.summary)),
    diagnose,
  };
}
