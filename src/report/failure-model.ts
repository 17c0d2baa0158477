import type { BlobOutcome, PushResult, TargetResult } from '../push/result.js';
import { RegistryError } from '../registry/errors.js';
import type { ChunkReason } from '../transfer/outcome.js';
import { foreignLine } from '../util/text.js';
import {
  type Cause,
  type Recovery,
  type RecoveryKind,
  type Shell,
  causeOf,
  recoveryOf,
} from './causes.js';

// The failure model both shells and every renderer read: what failed, grouped by cause, what was
// recovered from, and what was worked around. Pure functions of a result; no markdown, no workflow
// commands. Texts are in the syntax of the shell that shows them.

/** The host an upload Location named, from the errors of a blob that could not reach it. */
function locationHostOf(blob: BlobOutcome): string | undefined {
  const error = [...blob.errors].reverse().find((e) => e.op !== 'exists' && e.op !== 'verify');
  // Hosts are checked by the URL parser already; anything but a host's own characters is dropped.
  if (!error) return undefined;
  const host = URL.canParse(error.url) ? new URL(error.url).host : undefined;
  return host?.replace(/[^a-z0-9.:[\]-]/gi, '');
}

/** The probable cause of one failed blob, as the failure rules decided it. */
export function blobCause(
  blob: BlobOutcome,
  shell: Shell = 'action',
  target?: TargetResult,
): Cause {
  const id = blob.cause ?? 'unknown';
  const moved = target?.observations?.locationMovedFrom?.replace(/[^a-z0-9.:[\]-]/gi, '');
  return causeOf(
    id,
    {
      smallestRefused: blob.smallestRefused,
      largestRefused: blob.largestRefused,
      proxy: blob.errors[blob.errors.length - 1]?.proxy,
      locationHost: id === 'location-unreachable' ? (moved ?? locationHostOf(blob)) : undefined,
    },
    shell,
  );
}

/** The probable cause of a push that stopped outside the blobs. */
export function pushCause(result: PushResult, shell: Shell = 'action'): Cause {
  const proxy = result.error instanceof RegistryError ? result.error.proxy : undefined;
  const facts = {
    proxy,
    registry: result.stoppedAt,
    credentialsRegistry: result.credentialsRegistry,
  };
  return causeOf(result.cause ?? 'unknown', facts, shell);
}

/** One failed blob where it failed: for the tables and the detail sections. */
export interface FailedBlob {
  blob: BlobOutcome;
  registry: string;
  repository: string;
  cause: Cause;
}

export interface CauseGroup {
  cause: Cause;
  /** The distinct digests it hit, in the order they failed; empty for a push-level cause. */
  blobs: string[];
  /** Each failure it covers, per repository: a blob failed in two repositories is here twice. */
  failures: FailedBlob[];
  /** What the registry last answered, for the first blob or the push: `413 from cloudflare`. */
  answer?: string;
  /** The smallest request body refused as too large among its blobs. */
  largestRefused?: number;
}

/** A short phrase for a registry answer: the status and who sent it. */
function shortAnswer(error: RegistryError | undefined): string | undefined {
  if (!error) return undefined;
  const what = error.answer;
  const server = error.headers.server ? ` from ${foreignLine(error.headers.server, 80)}` : '';
  return foreignLine(`${what}${server}`, 120);
}

/** The distinct causes of a failed push, each with the blobs it hit: for the summary, annotations and the CLI. */
export function failureCauses(result: PushResult, shell: Shell = 'action'): CauseGroup[] {
  if (result.ok) return [];
  const groups = new Map<string, CauseGroup>();
  for (const target of result.targets) {
    for (const blob of target.blobs.values()) {
      if (blob.state !== 'failed') continue;
      const cause = blobCause(blob, shell, target);
      // One group per cause: its text names the smallest body refused, which every blob's exceeds.
      const key = cause.id;
      const prior = groups.get(key);
      if (prior && (blob.largestRefused ?? Infinity) < (prior.largestRefused ?? Infinity)) {
        prior.cause = cause;
        prior.largestRefused = blob.largestRefused;
      }
      const group = prior ?? {
        cause,
        largestRefused: blob.largestRefused,
        blobs: [],
        failures: [],
        answer: shortAnswer(blob.errors[blob.errors.length - 1]),
      };
      if (!group.blobs.includes(blob.digest)) group.blobs.push(blob.digest);
      group.failures.push({
        blob,
        registry: target.registry,
        repository: target.repository,
        cause,
      });
      groups.set(key, group);
    }
  }
  // Input refused before the push is the input's own line; a cancel then is still a cause.
  if (!groups.size && (result.phase !== 'validate' || result.cause === 'cancelled')) {
    const cause = pushCause(result, shell);
    const answer = result.error instanceof RegistryError ? shortAnswer(result.error) : undefined;
    groups.set(cause.id, { cause, blobs: [], failures: [], answer });
  }
  return [...groups.values()];
}

/** The recovery a blob's switch to chunks was, by why its single body failed. */
const CHUNKED_BECAUSE: Record<ChunkReason, RecoveryKind> = {
  'body-too-large': 'chunked',
  'single-body-refused': 'chunks-only',
  'body-cut': 'chunked-after-cuts',
};

/**
 * What the push got past, by kind: blobs that went in after the registry lost them, replica lag
 * waited out, bodies refused and sent in chunks, sessions lost, requests tried again. Only blobs
 * that made it count: a failed blob's tries are its failure, not a recovery.
 */
export function recoveries(result: PushResult, shell: Shell = 'action'): Recovery[] {
  const tally = new Map<
    RecoveryKind,
    { blobs: number; times: number; refused: number; chunk: number }
  >();
  const add = (kind: RecoveryKind, times: number, refused = 0, chunk = 0): void => {
    if (times <= 0) return;
    const t = tally.get(kind) ?? { blobs: 0, times: 0, refused: 0, chunk: 0 };
    t.blobs++;
    t.times += times;
    t.refused = Math.max(t.refused, refused);
    // The smallest chunk that went through is the one every refused body fits.
    t.chunk = t.chunk && chunk ? Math.min(t.chunk, chunk) : t.chunk || chunk;
    tally.set(kind, t);
  };
  for (const target of result.targets)
    for (const blob of target.blobs.values()) {
      if (blob.state === 'failed') continue;
      const r = blob.recovered;
      add('reuploaded', r.reuploads);
      add('replica-lag', r.lagHeads);
      if (r.chunkedBecause)
        add(CHUNKED_BECAUSE[r.chunkedBecause], 1, r.largestRefused ?? 0, r.chunkBytes ?? 0);
      add('sessions-lost', r.lostSessions);
      add('retries', r.retries);
    }
  const order: RecoveryKind[] = [
    'reuploaded',
    'replica-lag',
    'chunked',
    'chunks-only',
    'chunked-after-cuts',
    'sessions-lost',
    'retries',
  ];
  return order
    .filter((kind) => tally.has(kind))
    .map((kind) => {
      const t = tally.get(kind)!;
      return recoveryOf(
        kind,
        {
          blobs: t.blobs,
          times: t.times,
          largestRefused: t.refused || undefined,
          chunkBytes: t.chunk || undefined,
        },
        shell,
      );
    });
}

/** The keys of the `recoveries` output: a blob sent in chunks counts as `chunked`, whatever the reason. */
type RecoveryCount = Exclude<RecoveryKind, 'chunks-only' | 'chunked-after-cuts'>;
const COUNTED_AS: Record<RecoveryKind, RecoveryCount> = {
  reuploaded: 'reuploaded',
  'replica-lag': 'replica-lag',
  chunked: 'chunked',
  'chunks-only': 'chunked',
  'chunked-after-cuts': 'chunked',
  'sessions-lost': 'sessions-lost',
  retries: 'retries',
};

/** The recovery counts as the outputs report them: every kind, zero when it did not happen. */
export function recoveryCounts(result: PushResult | undefined): Record<RecoveryCount, number> {
  const counts: Record<RecoveryCount, number> = {
    reuploaded: 0,
    'replica-lag': 0,
    chunked: 0,
    'sessions-lost': 0,
    retries: 0,
  };
  if (!result) return counts;
  for (const r of recoveries(result)) counts[COUNTED_AS[r.kind]] += r.facts.times;
  return counts;
}

export interface ObservedWarning {
  registry: string;
  seen: string;
  cause: Cause;
}

/** Problems oci-push worked around that will hurt other clients (and later pushes): say so even on success. */
export function observedWarnings(result: PushResult, shell: Shell = 'action'): ObservedWarning[] {
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
        cause: causeOf('location-downgrade', {}, shell),
      });
    }
    if (o.locationMovedFrom) {
      const host = o.locationMovedFrom.replace(/[^a-z0-9.:[\]-]/gi, '');
      out.push({
        registry: target.registry,
        seen: `upload Locations named ${host}, which the runner cannot reach; the same paths answered on the registry's own host, so oci-push sent the uploads there.`,
        cause: causeOf('location-unreachable', { locationHost: host }, shell),
      });
    }
    if (o.mountsRefusedFrom.length) {
      const from = o.mountsRefusedFrom.map((r) => r.replace(/[^a-z0-9._/-]/g, '')).join(', ');
      out.push({
        registry: target.registry,
        seen: `the registry refused to mount blobs from ${from}; oci-push uploaded them instead.`,
        cause: causeOf('mount-refused', {}, shell),
      });
    }
    if (o.unauthorizedMidPush > 0) {
      out.push({
        registry: target.registry,
        seen: `the registry answered 401 partway through the push ${o.unauthorizedMidPush} time(s); oci-push fetched a new token.`,
        cause: causeOf('token-lifetime', {}, shell),
      });
    }
  }
  return out;
}
