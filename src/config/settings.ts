import type { Credentials } from '../registry/auth.js';
import { type ImageReference, parseTarget } from '../registry/reference.js';
import type { Compression } from '../oci/docker-archive.js';
import type { Engine } from '../oci/engine-export.js';
import { MIN_CHUNK_SIZE, type UploadMode } from '../transfer/policy.js';
import { UsageError } from '../util/errors.js';
import { readCa } from './ca-file.js';
import { checkWritableFolder } from './writable-file.js';
import { INPUT_DEFAULTS, Input, type InputName } from './inputs.js';

export type DiagnoseWhen = 'on-failure' | 'never';

/** What reaches a registry: shared by a push and by `diagnose`. */
/** Credentials for one more registry (the CLI's `--creds`). */
export interface RegistryCredentials {
  registry: string;
  credentials: Credentials;
}

export interface ConnectionSettings {
  /** Explicit credentials; they go to `credentialsRegistry` only. */
  credentials?: Credentials;
  /** The registry `username` and `password` are for (`registry`); the first tag's when unset. */
  credentialsRegistry?: string;
  /** Credentials for other registries, each for its own (`--creds`). */
  moreCredentials: RegistryCredentials[];
  /** For ghcr.io when no other credentials are found. */
  githubToken?: string;
  insecure: boolean;
  /** PEM text of extra trusted CA certificates (the ca-file, read once). */
  ca?: string;
}

/** Everything a push needs, parsed once from the action's inputs or the CLI's flags. */
export interface PushSettings extends ConnectionSettings {
  /** Exactly one of layout, image and indexFrom is set. */
  layout?: string;
  image?: string;
  /** Manifests already in the registry (digests or references) to assemble into an index. */
  indexFrom: string[];
  /** Repositories or references on the target's registry that may hold the image's blobs. */
  mountFrom: string[];
  pushByDigest: boolean;
  engine: Engine;
  compression: Compression;
  /** The most an archive or stdin may expand to in the temp folder, when set (`max-image-size`). */
  maxImageSize?: number;
  tags: ImageReference[];
  transfer: { mode: UploadMode; chunkSize: number; retries: number; concurrency: number };
  /** How long a request may wait for its answer (see `request-timeout`), in ms. */
  requestTimeoutMs: number;
  /** Annotations for the index oci-push creates (`index-from`). */
  annotations: Record<string, string>;
  summary: boolean;
  diagnose: DiagnoseWhen;
  /** Where the pushed digest goes once the push succeeded (`digest-file`). */
  digestFile?: string;
  /** Only these platforms of an index (`os/arch[/variant]`); empty for all. */
  platforms: string[];
  /** Check and report, write nothing (`dry-run`). */
  dryRun: boolean;
  /** Whether `index-from` may hold two manifests for one platform. */
  duplicatePlatforms: 'refuse' | 'allow';
}

export interface DiagnoseSettings extends ConnectionSettings {
  ref: ImageReference;
  maxProbe: boolean;
}

/** `get` returns '' for an unset input, as core.getInput does. */
export type InputSource = (name: InputName) => string;

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

/** `30s`, `2m`, `90`: a duration of 1 s to 10 min, in ms. */
export function parseDuration(name: InputName, text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/i.exec(text);
  const factor = { ms: 1, s: 1000, m: 60_000 }[(m?.[2] ?? 's').toLowerCase() as 'ms' | 's' | 'm'];
  const ms = m ? Math.round(Number(m[1]) * factor) : NaN;
  if (!(ms >= 1000 && ms <= 600_000))
    throw new UsageError(
      `input ${name}: expected a duration from 1s to 10m such as 30s or 2m, got ${JSON.stringify(text)}`,
    );
  return ms;
}

const TRUE = /^(true|yes|on|1)$/i;
const FALSE = /^(false|no|off|0)$/i;

/** Whether a text is a boolean as oci-push reads one (the CLI uses it to tell `--flag false`). */
export function isBooleanText(value: string): boolean {
  return TRUE.test(value.trim()) || FALSE.test(value.trim());
}

/** The one way a boolean is read, for inputs and flags alike; `name` says which (`input insecure`, `--insecure`). */
export function parseBoolean(name: string, value: string): boolean {
  if (TRUE.test(value.trim())) return true;
  if (FALSE.test(value.trim())) return false;
  throw new UsageError(`${name}: expected true or false, got ${JSON.stringify(value)}`);
}

function parseInteger(name: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value.trim()))
    throw new UsageError(`input ${name}: expected a whole number, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < min || n > max)
    throw new UsageError(`input ${name}: must be between ${min} and ${max}, got ${n}`);
  return n;
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T))
    throw new UsageError(
      `input ${name}: expected ${allowed.join(', ')}, got ${JSON.stringify(value)}`,
    );
  return value as T;
}

/** Splits on newlines and commas; blank entries and surrounding space are dropped. */
export function splitList(value: string): string[] {
  return value
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

function valueOf(get: InputSource): (name: InputName) => string {
  return (name) => get(name).trim() || INPUT_DEFAULTS[name] || '';
}

function credentialsOf(get: InputSource, source: string): Credentials | undefined {
  const username = get(Input.username).trim();
  const password = get(Input.password);
  if (Boolean(username) !== Boolean(password)) {
    throw new UsageError(
      `inputs ${Input.username} and ${Input.password} go together: set both or neither`,
    );
  }
  return username ? { username, password, source } : undefined;
}

/** `ghcr.io`, `registry.example.com:5000`: a registry host, as a tag's first part names it. */
export function registryHostOf(text: string, name = `input ${Input.registry}`): string {
  const host = text
    .trim()
    .replace(/^https?:\/\//, '')
    .replace(/\/+$/, '');
  if (!/^[a-z0-9.-]+(:\d+)?$/i.test(host) && !/^\[[0-9a-f:]+\](:\d+)?$/i.test(host))
    throw new UsageError(
      `${name}: expected a registry host such as ghcr.io or registry.example.com:5000, got ${JSON.stringify(text)}`,
    );
  return host.toLowerCase();
}

async function connectionOf(get: InputSource, source: string): Promise<ConnectionSettings> {
  const value = valueOf(get);
  const credentials = credentialsOf(get, source);
  const insecure = parseBoolean(`input ${Input.insecure}`, value(Input.insecure));
  const ca = await readCa(value(Input.caFile) || undefined);
  const registry = get(Input.registry).trim();
  return {
    credentials,
    credentialsRegistry: registry ? registryHostOf(registry) : undefined,
    moreCredentials: [],
    githubToken: get(Input.githubToken).trim() || undefined,
    insecure,
    ca,
  };
}

/**
 * Parses every input once into typed settings; defaults apply here so the CLI and the action agree.
 * The CA file is read here, once.
 */
export async function readPushSettings(
  get: InputSource,
  credentialSource = 'the username and password inputs',
): Promise<PushSettings> {
  const value = valueOf(get);
  const layout = value(Input.layout) || undefined;
  const image = value(Input.image) || undefined;
  const indexFrom = splitList(get(Input.indexFrom));
  const mountFrom = splitList(get(Input.mountFrom));
  if ([layout, image, indexFrom.length ? 'index' : undefined].filter(Boolean).length !== 1) {
    throw new UsageError(
      `exactly one of the inputs ${Input.layout} (an OCI layout folder or archive), ${Input.image} (a local image in docker or podman) and ${Input.indexFrom} (manifests to assemble into an index) is required`,
    );
  }
  const engine = oneOf(Input.engine, value(Input.engine), ENGINES);
  const compression = oneOf(Input.compression, value(Input.compression), COMPRESSIONS);
  const tagList = splitList(get(Input.tags));
  if (!tagList.length)
    throw new UsageError(
      `input ${Input.tags} is required: at least one reference like registry.example.com/team/app:1.0`,
    );
  const pushByDigest = parseBoolean(`input ${Input.pushByDigest}`, value(Input.pushByDigest));
  // With push-by-digest the references name repositories only: nothing is tagged.
  const tags = tagList.map(parseTarget).map((t) => (pushByDigest ? { ...t, tag: undefined } : t));
  const mode = oneOf(Input.uploadMode, value(Input.uploadMode), UPLOAD_MODES);
  const chunkText = value(Input.chunkSize);
  const chunkSize = parseSize(chunkText);
  if (chunkSize === undefined || chunkSize < MIN_CHUNK_SIZE || chunkSize > 5 * 2 ** 30) {
    throw new UsageError(
      `input ${Input.chunkSize}: expected a size from 1MiB to 5GiB such as 50MiB or 100MB, got ${JSON.stringify(chunkText)}`,
    );
  }
  const maxText = value(Input.maxImageSize);
  const maxImageSize = maxText ? parseSize(maxText) : undefined;
  if (maxText && (maxImageSize === undefined || maxImageSize < 1))
    throw new UsageError(
      `input ${Input.maxImageSize}: expected a size such as 10GiB or 500MB, got ${JSON.stringify(maxText)}`,
    );
  const diagnose = oneOf(Input.diagnose, value(Input.diagnose), DIAGNOSE_WHEN);
  const transfer = {
    mode,
    chunkSize,
    retries: parseInteger(Input.retries, value(Input.retries), 0, 20),
    concurrency: parseInteger(Input.concurrency, value(Input.concurrency), 1, 64),
  };
  const requestTimeoutMs = parseDuration(Input.requestTimeout, value(Input.requestTimeout));
  const summary = parseBoolean(`input ${Input.summary}`, value(Input.summary));
  const annotations = parseAnnotations(get(Input.annotations), indexFrom.length > 0);
  return {
    layout,
    image,
    indexFrom,
    mountFrom,
    pushByDigest,
    engine,
    compression,
    maxImageSize,
    tags,
    transfer,
    requestTimeoutMs,
    summary,
    diagnose,
    annotations,
    digestFile: await digestFileOf(value(Input.digestFile)),
    platforms: platformsOf(get(Input.platforms), indexFrom.length > 0),
    dryRun: dryRunOf(value(Input.dryRun), indexFrom.length > 0),
    duplicatePlatforms: oneOf(Input.duplicatePlatforms, value(Input.duplicatePlatforms), [
      'refuse',
      'allow',
    ] as const),
    ...(await connectionOf(get, credentialSource)),
  };
}

function dryRunOf(text: string, createsIndex: boolean): boolean {
  const dryRun = parseBoolean(`input ${Input.dryRun}`, text);
  if (dryRun && createsIndex)
    throw new UsageError(
      `input ${Input.dryRun} checks a layout or an image against the registry; it does not work with ${Input.indexFrom}`,
    );
  return dryRun;
}

const PLATFORM = /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/;

/** `linux/amd64`, `linux/arm/v7`: the platforms to keep, as docker's --platform writes them. */
function platformsOf(text: string, createsIndex: boolean): string[] {
  const platforms = splitList(text).map((p) => p.toLowerCase());
  const bad = platforms.find((p) => !PLATFORM.test(p));
  if (bad !== undefined)
    throw new UsageError(
      `input ${Input.platforms}: expected os/arch or os/arch/variant such as linux/amd64, got ${JSON.stringify(bad)}`,
    );
  if (platforms.length && createsIndex)
    throw new UsageError(
      `input ${Input.platforms} picks platforms of an image; ${Input.indexFrom} names the manifests of the index itself`,
    );
  return platforms;
}

/** The digest file, its folder checked now (see `checkWritableFolder`). */
async function digestFileOf(file: string): Promise<string | undefined> {
  if (!file) return undefined;
  await checkWritableFolder(Input.digestFile, file);
  return file;
}

/** Settings for `oci-push diagnose REF`, from the same inputs a push reads. */
export async function readDiagnoseSettings(
  get: InputSource,
  ref: string,
  maxProbe: boolean,
  credentialSource = 'the username and password flags',
): Promise<DiagnoseSettings> {
  return {
    ref: parseTarget(ref),
    maxProbe,
    ...(await connectionOf(get, credentialSource)),
  };
}

/** OCI annotation keys: reverse-domain names such as `org.opencontainers.image.title`. */
const ANNOTATION_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;

/**
 * `key=value` lines, as docker/metadata-action's `annotations` output and `buildx imagetools create
 * --annotation` write them: an optional `index:` prefix says where the annotation goes. oci-push
 * creates indexes only (`index-from`); a layout's manifests are pushed as they are, since their
 * digests are fixed, so any other target is refused rather than silently dropped.
 */
export function parseAnnotations(text: string, createsIndex: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    if (eq < 0)
      throw new UsageError(`input ${Input.annotations}: ${JSON.stringify(line)} is not KEY=VALUE`);
    let key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1);
    const prefix = /^([a-z-]+)(?:\[[^\]]*\])?:/.exec(key);
    if (prefix) {
      if (prefix[1] !== 'index')
        throw new UsageError(
          `input ${Input.annotations}: ${JSON.stringify(line)} is for ${prefix[1]}, but oci-push only creates an index (with ${Input.indexFrom}); write index:KEY=VALUE, or set DOCKER_METADATA_ANNOTATIONS_LEVELS=index for docker/metadata-action`,
        );
      key = key.slice(prefix[0].length);
    }
    if (!ANNOTATION_KEY.test(key))
      throw new UsageError(
        `input ${Input.annotations}: ${JSON.stringify(key)} is not an annotation key (letters, digits, '.', '_', '/', '-')`,
      );
    out[key] = value;
  }
  if (Object.keys(out).length && !createsIndex)
    throw new UsageError(
      `input ${Input.annotations}: annotations apply to the index oci-push creates with ${Input.indexFrom}; a layout's own manifests are pushed unchanged (their digests are fixed)`,
    );
  return out;
}
