import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DiagnoseSettings } from '../config/settings.js';
import { connectRegistry } from '../push/connect.js';
import { digestOf, digestFile } from '../oci/digest.js';
import type { BlobFile } from '../oci/image.js';
import { makeTempDir, removeTempDir } from '../oci/source.js';
import { RepositoryClient } from '../registry/client.js';
import { classifyError } from '../registry/failure.js';
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

/**
 * A bounded probe of one registry: can it be reached, does it take our credentials, can it take a
 * small blob monolithically and a 1 MiB+ blob both ways, and does HEAD find them afterwards.
 * Every answer becomes a finding with the same cause texts the summary uses.
 */
export async function diagnose(
  settings: DiagnoseSettings,
  options: DiagnoseDeps,
): Promise<Finding[]> {
  const { ref } = settings;
  const { logger } = options;
  const clock = options.clock ?? realClock;
  const deadline = clock.now() + (options.timeoutMs ?? DIAGNOSE_TIMEOUT_MS);
  const findings: Finding[] = [];
  // The time limit and a signal abort the requests themselves: nothing is left waiting behind.
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  options.signal?.addEventListener('abort', onSignal, { once: true });
  if (options.signal?.aborted) stop.abort();
  const base =
    options.base ??
    createBaseTransport({
      insecureHosts: new Set(settings.insecure ? [ref.apiHost] : []),
      ca: settings.ca,
      signal: stop.signal,
      deadlines: {
        ...DEFAULT_DEADLINES,
        requestMs: Math.min(options.requestTimeoutMs ?? DEFAULT_DEADLINES.requestMs, 10_000),
      },
    });
  const dir = await makeTempDir('oci-push-diagnose-');
  let registry: Registry | undefined;
  const add = (
    phase: Finding['phase'],
    check: string,
    ok: boolean,
    detail: string,
    error?: unknown,
  ): void => {
    const cause = ok
      ? undefined
      : error instanceof UploadFailed
        ? error.decision.cause
        : classifyError(error, {
            authorized: registry?.authorized ?? false,
            anonymous: registry ? !registry.auth.hasCredentials : false,
          }).cause;
    findings.push({ check, phase, ok, detail, cause });
    logger.info(`${ok ? 'ok  ' : 'FAIL'} ${check}: ${detail}`);
  };
  const bounded = async <T>(work: Promise<T>): Promise<T> => {
    const left = deadline - clock.now();
    if (left <= 0 || stop.signal.aborted) throw new ProbeTimeout();
    let timer: NodeJS.Timeout | undefined;
    let onStop: (() => void) | undefined;
    try {
      return await Promise.race([
        work,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            stop.abort();
            reject(new ProbeTimeout());
          }, left);
          onStop = () => reject(new ProbeTimeout());
          stop.signal.addEventListener('abort', onStop, { once: true });
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (onStop) stop.signal.removeEventListener('abort', onStop);
    }
  };

  try {
    try {
      registry = await bounded(
        connectRegistry(ref, ref.registry, settings, PROBE_RETRIES, {
          logger,
          clock,
          env: options.env ?? process.env,
          base,
        }),
      );
      const challenge = registry.auth.challenge;
      const authText = challenge
        ? `${challenge.scheme} auth${challenge.params.realm ? ` (realm ${challenge.params.realm})` : ''}`
        : 'no auth';
      add(
        'connect',
        'registry reachable',
        true,
        `${registry.baseUrl.protocol.replace(':', '')}://${ref.apiHost}/v2/ answers; ${authText}`,
      );
    } catch (error) {
      if (error instanceof ProbeTimeout) throw error;
      add('connect', 'registry reachable', false, (error as Error).message, error);
      return findings;
    }
    try {
      await bounded(registry.authorize(ref.repository));
      add('auth', 'push access', true, `${registry.auth.who} may push to ${ref.repository}`);
    } catch (error) {
      if (error instanceof ProbeTimeout) throw error;
      add('auth', 'push access', false, (error as Error).message, error);
      return findings;
    }
    const connected = registry;
    const client = new RepositoryClient(connected, ref.repository);
    const probe = async (check: string, blob: BlobFile, mode: UploadMode): Promise<boolean> => {
      const policy = transferPolicy({
        mode,
        chunkSize: MiB,
        retries: PROBE_RETRIES,
        concurrency: 1,
      });
      // The same machine as a push, forced past the existence check: the probe is the upload.
      const outcome = await bounded(
        pushBlob({ client, policy, clock, logger }, blob, { force: true }),
      );
      if (!outcome || outcome.state === 'failed') {
        const error = outcome?.error ?? new Error('not tried');
        if (stop.signal.aborted) throw new ProbeTimeout();
        const decision = { action: 'fail-blob' as const, cause: outcome?.cause ?? 'unknown' };
        add('blobs', check, false, error.message, new UploadFailed(decision, error));
        return false;
      }
      const chunks = mode === 'chunked' ? ` in ${outcome.chunks} chunks` : '';
      add('blobs', check, true, `${blob.size} bytes uploaded${chunks} and read back with HEAD`);
      return true;
    };
    const fileBlob = async (name: string, size: number): Promise<BlobFile> => {
      const path = join(dir, name);
      if (size <= 4 * MiB) await writeFile(path, probeBytes(size));
      else await writeProbeFile(path, size);
      const { digest } =
        size <= 4 * MiB ? { digest: digestOf(probeBytes(size)) } : await digestFile(path, 'sha256');
      return { digest, size, mediaType: 'application/octet-stream', path };
    };

    await probe('small blob, monolithic', await fileBlob('small', 512), 'monolithic');
    const medium = await fileBlob('medium', MEDIUM_PROBE_BYTES);
    await probe('1 MiB + 1 byte, monolithic (body size limit)', medium, 'monolithic');
    await probe('1 MiB + 1 byte, chunked', medium, 'chunked');
    if (settings.maxProbe) {
      await probe(
        '100 MB + 1 byte, monolithic (Cloudflare Free/Pro limit)',
        await fileBlob('large', LARGE_PROBE_BYTES),
        'monolithic',
      );
    } else {
      findings.push({
        check: 'bodies over 100 MB',
        phase: 'blobs',
        ok: undefined,
        detail: 'not probed (pass --max-probe to upload 100 MB + 1 byte)',
      });
      logger.info(
        'skip bodies over 100 MB: not probed (pass --max-probe to upload 100 MB + 1 byte)',
      );
    }
    // A path that refuses even the smallest chunk makes every body-size finding the same story:
    // advising chunks for the single-body probe would send people the wrong way.
    if (findings.some((f) => f.cause === 'body-limit-at-floor'))
      for (const f of findings)
        if (f.cause && /body-limit$/.test(f.cause)) f.cause = 'body-limit-at-floor';
    // A push with the defaults (upload-mode auto) sends a refused body again in chunks: when
    // chunks went through, a refused single body is something it works around, not a failure.
    const chunksWork = findings.some((f) => f.check === '1 MiB + 1 byte, chunked' && f.ok);
    for (const f of findings)
      if (chunksWork && f.ok === false && f.cause && /body-limit$/.test(f.cause))
        f.workaround = true;
    if (connected.observations.locationDowngraded) {
      findings.push({
        check: 'Location headers',
        phase: 'blobs',
        ok: false,
        detail: 'the registry answered with http Locations over https',
        cause: 'location-downgrade',
        workaround: true,
      });
      logger.info('FAIL Location headers: the registry answered with http Locations over https');
    }
  } catch (error) {
    if (!(error instanceof ProbeTimeout)) throw error;
    const cancelled = options.signal?.aborted;
    findings.push({
      check: cancelled ? 'cancelled' : 'time limit',
      phase: findings.length ? 'blobs' : 'connect',
      ok: false,
      detail: cancelled
        ? `the probe of ${formatReference(ref)} was cancelled`
        : `the probe of ${formatReference(ref)} stopped after ${Math.round((options.timeoutMs ?? DIAGNOSE_TIMEOUT_MS) / 1000)} s`,
      ...(cancelled ? { cause: 'cancelled' as const } : { cause: 'registry-stalled' as const }),
    });
  } finally {
    options.signal?.removeEventListener('abort', onSignal);
    // Every request has ended or been aborted: close the sockets now, never wait on them.
    if (!options.base) await base.destroy().catch(() => undefined);
    await removeTempDir(dir);
  }
  return findings;
}
