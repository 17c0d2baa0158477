import { createWriteStream } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../logger.js';
import { digestOf, digestFile } from '../oci/digest.js';
import type { BlobFile } from '../oci/image.js';
import { makeTempDir } from '../oci/source.js';
import type { Credentials } from '../registry/auth.js';
import { RepositoryClient } from '../registry/client.js';
import { credentialsFor } from '../registry/resolve-credentials.js';
import { RegistryError } from '../registry/errors.js';
import { type BaseTransport, createBaseTransport } from '../registry/http.js';
import { type ImageReference, formatReference } from '../registry/reference.js';
import { Registry } from '../registry/registry.js';
import { CAUSES, probableCause } from '../report/causes.js';
import type { Finding } from '../report/summary.js';
import type { UploadMode, UploadSettings } from '../upload/options.js';
import { newUploadOutcome, uploadBlob } from '../upload/upload-blob.js';
import { verifyBlob } from '../upload/verify.js';
import { type Clock, realClock } from '../util/clock.js';

export const DIAGNOSE_TIMEOUT_MS = 30_000;
const MiB = 1 << 20;
/** Just over 1 MiB: over nginx's default `client_max_body_size`, and two chunks at the smallest chunk size. */
export const MEDIUM_PROBE_BYTES = MiB + 1;
/** Just over 100 MB: over Cloudflare's Free and Pro plan limit. */
export const LARGE_PROBE_BYTES = 100_000_000 + 1;

export interface DiagnoseOptions {
  ref: ImageReference;
  credentials?: Credentials;
  /** For ghcr.io when no other credentials are found, as in a push. */
  githubToken?: string;
  insecure: boolean;
  maxProbe: boolean;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  base?: BaseTransport;
  ca?: string;
  timeoutMs?: number;
}

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
export async function diagnose(options: DiagnoseOptions): Promise<Finding[]> {
  const { ref, logger } = options;
  const clock = options.clock ?? realClock;
  const deadline = clock.now() + (options.timeoutMs ?? DIAGNOSE_TIMEOUT_MS);
  const findings: Finding[] = [];
  const base =
    options.base ??
    createBaseTransport({
      insecureHosts: new Set(options.insecure ? [ref.apiHost] : []),
      ca: options.ca,
    });
  const dir = await makeTempDir('oci-push-diagnose-');
  const add = (check: string, ok: boolean, detail: string, error?: unknown): void => {
    const cause = ok
      ? undefined
      : probableCause({ errors: error instanceof RegistryError ? [error] : [], phase: 'blobs' });
    findings.push({ check, ok, detail, cause });
    logger.info(`${ok ? 'ok  ' : 'FAIL'} ${check}: ${detail}`);
    if (cause) logger.info(`     probable cause: ${cause.title}\n     fix: ${cause.fix}`);
  };
  const bounded = async <T>(work: Promise<T>): Promise<T> => {
    const left = deadline - clock.now();
    if (left <= 0) throw new ProbeTimeout();
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        work,
        new Promise<never>(
          (_, reject) => (timer = setTimeout(() => reject(new ProbeTimeout()), left)),
        ),
      ]);
    } finally {
      clearTimeout(timer);
    }
  };

  try {
    const credentials = await credentialsFor(ref.registry, ref.repository, {
      explicit: options.credentials,
      explicitRegistry: ref.registry,
      githubToken: options.githubToken,
      env: options.env ?? process.env,
      logger,
    });
    const registry = new Registry({
      name: ref.registry,
      apiHost: ref.apiHost,
      credentials,
      insecure: options.insecure,
      retries: 1,
      clock,
      logger,
      base,
    });
    try {
      await bounded(registry.ping());
      const challenge = registry.auth.challenge;
      const authText = challenge
        ? `${challenge.scheme} auth${challenge.params.realm ? ` (realm ${challenge.params.realm})` : ''}`
        : 'no auth';
      add(
        'registry reachable',
        true,
        `${registry.baseUrl.protocol.replace(':', '')}://${ref.apiHost}/v2/ answers; ${authText}`,
      );
    } catch (error) {
      add('registry reachable', false, (error as Error).message, error);
      return findings;
    }
    try {
      await bounded(registry.authorize(ref.repository));
      add(
        'push access',
        true,
        `${credentials ? `credentials from ${credentials.source ?? 'the inputs'}` : 'anonymous'} may push to ${ref.repository}`,
      );
    } catch (error) {
      add('push access', false, (error as Error).message, error);
      return findings;
    }
    const client = new RepositoryClient(registry, ref.repository);
    const settings = (mode: UploadMode, chunkSize = MiB): UploadSettings => ({
      mode,
      chunkSize,
      retries: 1,
      clock,
      logger,
      monolithicLimit: new Map(),
      chunkLimit: new Map(),
    });
    const probe = async (check: string, blob: BlobFile, mode: UploadMode): Promise<boolean> => {
      try {
        const outcome = newUploadOutcome();
        await bounded(uploadBlob(client, blob, settings(mode), outcome));
        const verified = await bounded(verifyBlob(client, blob, clock));
        if (!verified.ok) {
          const error = new RegistryError({
            method: 'HEAD',
            url: new URL(`/v2/${ref.repository}/blobs/${blob.digest}`, registry.baseUrl),
            status: verified.status,
            context: verified.reason,
          });
          add(check, false, `uploaded, then ${verified.reason}`, error);
          if (verified.missing)
            findings[findings.length - 1]!.cause = {
              id: 'vanished-after-ack',
              ...CAUSES['vanished-after-ack'],
            };
          return false;
        }
        const chunks = mode === 'chunked' ? ` in ${outcome.chunks} chunks` : '';
        add(check, true, `${blob.size} bytes uploaded${chunks} and read back with HEAD`);
        return true;
      } catch (error) {
        if (error instanceof ProbeTimeout) throw error;
        add(check, false, (error as Error).message, error);
        return false;
      }
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
    if (options.maxProbe) {
      await probe(
        '100 MB + 1 byte, monolithic (Cloudflare Free/Pro limit)',
        await fileBlob('large', LARGE_PROBE_BYTES),
        'monolithic',
      );
    } else {
      findings.push({
        check: 'bodies over 100 MB',
        ok: true,
        detail: 'not probed (pass --max-probe to upload 100 MB + 1 byte)',
      });
    }
    if (registry.observations.locationDowngraded) {
      findings.push({
        check: 'Location headers',
        ok: false,
        detail: 'the registry answered with http Locations over https',
        cause: { id: 'location-downgrade', ...CAUSES['location-downgrade'] },
      });
    }
  } catch (error) {
    if (!(error instanceof ProbeTimeout)) throw error;
    findings.push({
      check: 'time limit',
      ok: false,
      detail: `the probe of ${formatReference(ref)} stopped after ${Math.round((options.timeoutMs ?? DIAGNOSE_TIMEOUT_MS) / 1000)} s`,
    });
  } finally {
    if (!options.base) await base.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
  return findings;
}
