import type { BlobOutcome, PushResult } from '../push/result.js';
import { RegistryError } from '../registry/errors.js';
import { foreignLine } from '../util/text.js';
import { type Cause, causeOf } from './causes.js';

// The failure model both shells and every renderer read: what failed, grouped by cause, and what
// was worked around. Pure functions of a result; no markdown, no workflow commands.

/** The probable cause of one failed blob, as the failure rules decided it. */
export function blobCause(blob: BlobOutcome): Cause {
  return causeOf(blob.cause ?? 'unknown', { refusedBytes: blob.refusedBytes });
}

/** The probable cause of a push that stopped outside the blobs. */
export function pushCause(result: PushResult): Cause {
  return causeOf(result.cause ?? 'unknown');
}

export interface CauseGroup {
  cause: Cause;
  /** The blobs it hit, in the order they failed; empty for a push-level cause. */
  blobs: string[];
  /** What the registry last answered, for the first blob or the push: `HTTP 413 from cloudflare`. */
  answer?: string;
}

/** A short phrase for a registry answer: the status and who sent it. */
function shortAnswer(error: RegistryError | undefined): string | undefined {
  if (!error) return undefined;
  const what = error.status !== undefined ? `${error.status}` : (error.networkCode ?? 'no answer');
  const server = error.headers.server ? ` from ${foreignLine(error.headers.server, 80)}` : '';
  return foreignLine(`${what}${server}`, 120);
}

/** The distinct causes of a failed push, each with the blobs it hit: for the summary, annotations and the CLI. */
export function failureCauses(result: PushResult): CauseGroup[] {
  if (result.ok) return [];
  const groups = new Map<string, CauseGroup>();
  for (const target of result.targets) {
    for (const blob of target.blobs.values()) {
      if (blob.state !== 'failed') continue;
      const cause = blobCause(blob);
      const key = `${cause.id}:${cause.title}`;
      const group = groups.get(key) ?? {
        cause,
        blobs: [],
        answer: shortAnswer(blob.errors[blob.errors.length - 1]),
      };
      if (!group.blobs.includes(blob.digest)) group.blobs.push(blob.digest);
      groups.set(key, group);
    }
  }
  if (!groups.size && result.phase !== 'validate') {
    const cause = pushCause(result);
    const answer = result.error instanceof RegistryError ? shortAnswer(result.error) : undefined;
    groups.set(cause.id, { cause, blobs: [], answer });
  }
  return [...groups.values()];
}

export interface ObservedWarning {
  registry: string;
  seen: string;
  cause: Cause;
}

/** Problems oci-push worked around that will hurt other clients (and later pushes): say so even on success. */
export function observedWarnings(result: PushResult): ObservedWarning[] {
  const out: ObservedWarning[] = [];
  const seen = new Set<string>();
  for (const target of result.targets) {
    const o = target.observations;
    if (!o || seen.has(target.apiHost)) continue;
    seen.add(target.apiHost);
    if (o.locationDowngraded) {
      out.push({
        registry: target.registry,
        seen: 'the registry answered with http Location headers over https; oci-push kept https.',
        cause: causeOf('location-downgrade'),
      });
    }
    if (o.unauthorizedMidPush > 0) {
      out.push({
        registry: target.registry,
        seen: `the registry answered 401 partway through the push ${o.unauthorizedMidPush} time(s); oci-push fetched a new token.`,
        cause: causeOf('token-lifetime'),
      });
    }
  }
  return out;
}
