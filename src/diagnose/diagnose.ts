import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DiagnoseSettings } from '../config/settings.js';
import { connectRegistry } from '../push/connect.js';
import { digestOf, digestFile } from '../oci/digest.js';
import type { BlobFile } from '../oci/image.js';
import { makeTempDir, removeTempDir } from '../oci/source.js';
import { RepositoryClient } from '../registry/client.js';
import { credentialsSent, faultOf } from '../registry/failure.js';
import { type BaseTransport, DEFAULT_DEADLINES, createBaseTransport } from '../registry/http.js';
import { formatReference } from '../registry/reference.js';
import type { Registry } from '../registry/registry.js';
import { type UploadMode, transferPolicy } from '../transfer/policy.js';
import { UploadFailed } from '../transfer/attempts.js';
import { pushBlob } from '../transfer/blob.js';
import { type Clock, realClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { Finding } from './finding.js';

export const DIAGNOSE_TIMEOUT_MS = 30_000;
const MiB = 1 << 20;
/** Just over 1 MiB: over nginx's default `client_max_body_size`, and two chunks at the smallest chunk size. */
export const MEDIUM_PROBE_BYTES = MiB + 1;
/** Just over 100 MB: over Cloudflare's Free and Pro plan limit. */
export const LARGE_PROBE_BYTES = 100_000_000 + 1;

export interface DiagnoseDeps {
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  base?: BaseTransport;
  timeoutMs?: number;
  /** SIGINT or SIGTERM: every request in flight is aborted, and the probe ends at once. */
  signal?: AbortSignal;
  /** How long each request may take (request-timeout). */
  requestTimeoutMs?: number;
}

/** One retry per request: a probe is bounded in time, and a flaky answer is worth seeing. */
const PROBE_RETRIES = 1;

/** Fixed contents, so every probe uploads the same digests and leaves nothing new in the registry. */
function probeBytes(size: number): Buffer {
  const pattern = Buffer.from('oci-push diagnose probe: these bytes never change.\n');
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += pattern.length) pattern.copy(out, i);
  return out;
}

async function writeProbeFile(path: string, size: number): Promise<void> {
  const block = probeBytes(4 * MiB);
  const stream = createWriteStream(path);
  for (let written = 0; written < size;) {
    const n = Math.min(block.length, size - written);
    if (!stream.write(n === block.length ? block : block.subarray(0, n)))
      await new Promise<void>((r) => stream.once('drain', () => r()));
    written += n;
  }
  await new Promise<void>((resolve, reject) =>
    stream.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
}

class ProbeTimeout extends Error {}

/** Body-size findings after the probes: what a push with the defaults would get past. */
function interpretBodies(findings: Finding[], chunksWork: boolean): void {
  // A path that refuses even the smallest chunk makes every body-size finding the same story:
  // advising chunks for the single-body probe would send people the wrong way.
  if (findings.some((f) => f.cause === 'body-limit-at-floor'))
    for (const f of findings)
      if (f.cause && /body-limit$/.test(f.cause)) f.cause = 'body-limit-at-floor';
  // A push with the defaults (upload-mode auto) sends a refused body again in chunks: when
  // chunks went through, a refused single body is something it works around, not a failure.
  for (const f of findings)
    if (chunksWork && f.ok === false && f.cause && /body-limit$/.test(f.cause)) f.workaround = true;
}

/** One bounded probe of one registry: its findings, its deadline, and what it connected to. */
class Probe {
  readonly findings: Finding[] = [];
  /** The time limit and a signal abort the requests themselves: nothing is left waiting behind. */
  readonly stop = new AbortController();
  readonly clock: Clock;
  readonly base: BaseTransport;
  registry?: Registry;
  private readonly deadline: number;

  constructor(
    readonly settings: DiagnoseSettings,
    readonly options: DiagnoseDeps,
    readonly dir: string,
  ) {
    this.clock = options.clock ?? realClock;
    this.deadline = this.clock.now() + (options.timeoutMs ?? DIAGNOSE_TIMEOUT_MS);
    this.base =
      options.base ??
      createBaseTransport({
        insecureHosts: new Set(settings.insecure ? [settings.ref.apiHost] : []),
        ca: settings.ca,
        signal: this.stop.signal,
        deadlines: {
          ...DEFAULT_DEADLINES,
          requestMs: Math.min(options.requestTimeoutMs ?? DEFAULT_DEADLINES.requestMs, 10_000),
        },
      });
  }

  add(phase: Finding['phase'], check: string, ok: boolean, detail: string, error?: unknown): void {
    const cause = ok
      ? undefined
      : error instanceof UploadFailed
        ? error.decision.cause
        : faultOf(error, {
            credentials: credentialsSent(
              this.registry ? this.registry.auth.hasCredentials : true,
              this.registry?.authorized ?? false,
            ),
          }).cause;
    this.findings.push({ check, phase, ok, detail, cause });
    this.options.logger.info(`${ok ? 'ok  ' : 'FAIL'} ${check}: ${detail}`);
  }

  /** `work`, ended by the probe's deadline or its signal, whichever comes first. */
  async bounded<T>(work: Promise<T>): Promise<T> {
    const left = this.deadline - this.clock.now();
    if (left <= 0 || this.stop.signal.aborted) throw new ProbeTimeout();
    let timer: NodeJS.Timeout | undefined;
    let onStop: (() => void) | undefined;
    try {
      return await Promise.race([
        work,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            this.stop.abort();
            reject(new ProbeTimeout());
          }, left);
          onStop = () => reject(new ProbeTimeout());
          this.stop.signal.addEventListener('abort', onStop, { once: true });
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (onStop) this.stop.signal.removeEventListener('abort', onStop);
    }
  }

  /** Whether `GET /v2/` answers, and how it wants to be authenticated. */
  async connect(): Promise<Registry | undefined> {
    const { ref } = this.settings;
    try {
      const registry = await this.bounded(
        connectRegistry(ref, ref.registry, this.settings, PROBE_RETRIES, {
          logger: this.options.logger,
          clock: this.clock,
          env: this.options.env ?? process.env,
          base: this.base,
        }),
      );
      this.registry = registry;
      const challenge = registry.auth.challenge;
      const authText = challenge
        ? `${challenge.scheme} auth${challenge.params.realm ? ` (realm ${challenge.params.realm})` : ''}`
        : 'no auth';
      const scheme = registry.baseUrl.protocol.replace(':', '');
      this.add(
        'connect',
        'registry reachable',
        true,
        `${scheme}://${ref.apiHost}/v2/ answers; ${authText}`,
      );
      return registry;
    } catch (error) {
      if (error instanceof ProbeTimeout) throw error;
      this.add('connect', 'registry reachable', false, (error as Error).message, error);
      return undefined;
    }
  }

  /** Whether the credentials may push to the repository. */
  async authorize(registry: Registry): Promise<boolean> {
    const { repository } = this.settings.ref;
    try {
      await this.bounded(registry.authorize(repository));
      this.add('auth', 'push access', true, `${registry.auth.who} may push to ${repository}`);
      return true;
    } catch (error) {
      if (error instanceof ProbeTimeout) throw error;
      this.add('auth', 'push access', false, (error as Error).message, error);
      return false;
    }
  }

  /** One upload through the same machine as a push, forced past the existence check. */
  async upload(check: string, blob: BlobFile, mode: UploadMode): Promise<boolean> {
    const client = new RepositoryClient(this.registry!, this.settings.ref.repository);
    const policy = transferPolicy({ mode, chunkSize: MiB, retries: PROBE_RETRIES, concurrency: 1 });
    const { clock } = this;
    const outcome = await this.bounded(
      pushBlob({ client, policy, clock, logger: this.options.logger }, blob, { force: true }),
    );
    if (!outcome || outcome.state === 'failed') {
      const error = outcome?.error ?? new Error('not tried');
      if (this.stop.signal.aborted) throw new ProbeTimeout();
      const decision = { action: 'fail-blob' as const, cause: outcome?.cause ?? 'unknown' };
      this.add('blobs', check, false, error.message, new UploadFailed(decision, error));
      return false;
    }
    const chunks = mode === 'chunked' ? ` in ${outcome.chunks} chunks` : '';
    this.add('blobs', check, true, `${blob.size} bytes uploaded${chunks} and read back with HEAD`);
    return true;
  }

  /** A probe blob of `size` bytes in the probe's folder: the same bytes every time. */
  async fileBlob(name: string, size: number): Promise<BlobFile> {
    const path = join(this.dir, name);
    if (size <= 4 * MiB) await writeFile(path, probeBytes(size));
    else await writeProbeFile(path, size);
    const { digest } =
      size <= 4 * MiB ? { digest: digestOf(probeBytes(size)) } : await digestFile(path, 'sha256');
    return { digest, size, mediaType: 'application/octet-stream', path };
  }

  /** The body-size probes: small, just over 1 MiB both ways, and 100 MB when asked. */
  async bodies(): Promise<void> {
    await this.upload('small blob, monolithic', await this.fileBlob('small', 512), 'monolithic');
    const medium = await this.fileBlob('medium', MEDIUM_PROBE_BYTES);
    await this.upload('1 MiB + 1 byte, monolithic (body size limit)', medium, 'monolithic');
    const chunksWork = await this.upload('1 MiB + 1 byte, chunked', medium, 'chunked');
    if (this.settings.maxProbe) {
      const large = await this.fileBlob('large', LARGE_PROBE_BYTES);
      await this.upload(
        '100 MB + 1 byte, monolithic (Cloudflare Free/Pro limit)',
        large,
        'monolithic',
      );
    } else {
      const detail = 'not probed (pass --max-probe to upload 100 MB + 1 byte)';
      this.findings.push({ check: 'bodies over 100 MB', phase: 'blobs', ok: undefined, detail });
      this.options.logger.info(`skip bodies over 100 MB: ${detail}`);
    }
    interpretBodies(this.findings, chunksWork);
    if (this.registry!.observations.locationDowngraded) {
      const detail = 'the registry answered with http Locations over https';
      this.findings.push({
        check: 'Location headers',
        phase: 'blobs',
        ok: false,
        detail,
        cause: 'location-downgrade',
        workaround: true,
      });
      this.options.logger.info(`FAIL Location headers: ${detail}`);
    }
  }

  /** The finding for a probe ended by its time limit or a signal. */
  ended(): void {
    const cancelled = this.options.signal?.aborted;
    const shown = formatReference(this.settings.ref);
    const seconds = Math.round((this.options.timeoutMs ?? DIAGNOSE_TIMEOUT_MS) / 1000);
    this.findings.push({
      check: cancelled ? 'cancelled' : 'time limit',
      phase: this.findings.length ? 'blobs' : 'connect',
      ok: false,
      detail: cancelled
        ? `the probe of ${shown} was cancelled`
        : `the probe of ${shown} stopped after ${seconds} s`,
      cause: cancelled ? 'cancelled' : 'registry-stalled',
    });
  }
}

/**
 * A bounded probe of one registry: can it be reached, does it take our credentials, can it take a
 * small blob monolithically and a 1 MiB+ blob both ways, and does HEAD find them afterwards.
 * Every answer becomes a finding with the same cause texts the summary uses.
 */
export async function diagnose(
  settings: DiagnoseSettings,
  options: DiagnoseDeps,
): Promise<Finding[]> {
  const probe = new Probe(settings, options, await makeTempDir('oci-push-diagnose-'));
  const onSignal = (): void => probe.stop.abort();
  options.signal?.addEventListener('abort', onSignal, { once: true });
  if (options.signal?.aborted) probe.stop.abort();
  try {
    const registry = await probe.connect();
    if (registry && (await probe.authorize(registry))) await probe.bodies();
  } catch (error) {
    if (!(error instanceof ProbeTimeout)) throw error;
    probe.ended();
  } finally {
    options.signal?.removeEventListener('abort', onSignal);
    // Every request has ended or been aborted: close the sockets now, never wait on them.
    if (!options.base) await probe.base.destroy().catch(() => undefined);
    await removeTempDir(probe.dir);
  }
  return probe.findings;
}
