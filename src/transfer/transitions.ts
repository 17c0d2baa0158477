import { onOwnHost } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import type { CauseId, Fault } from '../registry/failure.js';
import { backoffDelay, mayRetry, waitFor } from '../registry/retry.js';
import { errorMessage } from '../util/errors.js';
import { formatSize } from '../util/format.js';
import { MAX_GROWS } from './attempts.js';
import type { Active, MachineContext, State } from './blob-state.js';
import type { BlobOutcome } from './outcome.js';
import { CHUNK_FLOOR } from './policy.js';

/** Upload sessions a blob may lose before the loss itself is the answer. */
export const MAX_LOST_SESSIONS = 3;

/** One failure: the state whose request failed, the fault the rules read in it, and the error. */
export interface Turn {
  ctx: MachineContext;
  state: Active;
  fault: Fault;
  error: unknown;
}

/**
 * What one action does from the state that failed: the next state, or `undefined` when the action
 * does not apply there (the machine's table then tries the next one listed, and after the last the
 * blob fails with the fault's cause).
 */
export type Transition = (t: Turn) => State | undefined;

/** The size of the chunk a failed step was sending, or would send. */
export function chunkOf(ctx: MachineContext, state: Active): number {
  if (state.name === 'patch') return Math.min(state.size, ctx.blob.size - state.offset);
  return ctx.client.registry.profile.chunkSize(ctx.policy.chunkSize);
}

export function record(outcome: BlobOutcome, line: string, error?: RegistryError): void {
  outcome.tried.push(line);
  if (error && !outcome.errors.includes(error)) outcome.errors.push(error);
}

/** Drops the session (best effort), then goes on. */
function leave(state: Active, then: State): State {
  return 'session' in state ? { name: 'cancel', session: state.session, then } : then;
}

/** The blob fails (after dropping its session), for `cause`: alone, or stopping the push. */
export function fail(t: Turn, cause: CauseId, stops: 'blob' | 'push' = 'blob'): State {
  const decision = { action: stops === 'push' ? 'fail-push' : 'fail-blob', cause } as const;
  return leave(t.state, { name: 'failed', error: t.error, decision });
}

/** The end of a table row: the fault ends the blob, or the push when nothing else can succeed. */
export function end(t: Turn): State {
  const { state, ctx, error } = t;
  if (state.name === 'verify')
    record(
      ctx.outcome,
      `upload ${ctx.attempts.reuploads + 1} acknowledged (201), then HEAD: ${errorMessage(error)}`,
      error instanceof RegistryError ? error : undefined,
    );
  const stops = t.fault.kind === 'fatal' || t.fault.kind === 'auth' ? 'push' : 'blob';
  return fail(t, t.fault.cause, stops);
}

/** Tries again the budget does not allow: the blob fails with the fault's cause. */
const spent = (t: Turn): State => fail(t, t.fault.cause);

/**
 * The one place a try again is charged: false when the budget is spent. Every transition that
 * sends something again passes here, and nothing else in the machine charges the budget.
 */
function charge(t: Turn, resend = false): boolean {
  const a = t.ctx.attempts;
  if (!a.budget.spend()) return false;
  if (resend) a.retried++;
  return true;
}

/** The wait before a try again: Retry-After, the quick schedule, or backoff. */
function backoff(t: Turn, quick = t.fault.quick): number {
  const headers = t.error instanceof RegistryError ? t.error.headers : {};
  return waitFor({ quick }, t.ctx.attempts.retries++, t.ctx.clock, headers);
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** The same request again, after a wait; quick retries stop at their own count. */
const retry: Transition = (t) => {
  if (!mayRetry(t.fault, t.ctx.attempts.retries)) return undefined;
  if (!charge(t, true)) return spent(t);
  const ms = backoff(t);
  const { error } = t;
  const what = error instanceof RegistryError ? `${error.method} ${error.url}` : t.state.name;
  const why = error instanceof RegistryError ? error.answer : errorMessage(error);
  t.ctx.logger.info(`${what}: ${why}; trying again in ${seconds(ms)}`);
  return { name: 'wait', ms, then: t.state };
};

/** A chunk that failed: the session is asked where it stands, and goes on from there. */
const resume: Transition = (t) => {
  const { state, ctx } = t;
  if (state.name !== 'patch') return undefined;
  if (!charge(t, true)) return spent(t);
  const ms = backoff(t);
  const sent = state.offset + Math.min(state.size, ctx.blob.size - state.offset);
  ctx.logger.info(
    `${ctx.blob.digest}: ${errorMessage(t.error)}; asking the registry where the upload stands`,
  );
  return {
    name: 'wait',
    ms,
    then: { name: 'status', session: state.session, sent, size: state.size },
  };
};

/** A new session from byte 0, for `cause`; never more than `retries` of them. */
function restartFor(t: Turn, cause: CauseId, quick?: boolean): State {
  const { ctx } = t;
  const a = ctx.attempts;
  const stopped = ctx.stopped?.();
  // Stopped for another blob's reason: this blob failed for that same reason, not its own.
  if (stopped) return fail(t, stopped);
  if (a.restarts >= ctx.policy.retries || !charge(t)) return fail(t, cause);
  a.restarts++;
  if (cause === 'lost-session' || cause === 'no-shared-secret') a.lostSessions++;
  const ms = backoff(t, quick);
  ctx.logger.info(
    `${ctx.blob.digest}: upload failed (${errorMessage(t.error)}); starting again in ${seconds(ms)}`,
  );
  return leave(t.state, { name: 'wait', ms, then: { name: 'open' } });
}

/**
 * A new session. A digest refused after a resume is the registry's Range misread (Quay and Gitea
 * report it off by one): the session was lost, not the bytes.
 */
const restart: Transition = (t) => {
  const resumedCommit =
    t.fault.kind === 'digest-refused' && t.state.name === 'commit' && t.ctx.attempts.resumed;
  return restartFor(t, resumedCommit ? 'lost-session' : t.fault.cause, t.fault.quick);
};

/**
 * A session the registry no longer knows. As old as the host keeps sessions, it expired; lost again
 * and again, it is replicas without a shared secret, and a third loss is final.
 */
const newSession: Transition = (t) => {
  const { ctx, state } = t;
  const lifetime = ctx.client.registry.profile.sessionLifetimeMs;
  const age = 'session' in state ? ctx.clock.now() - state.session.openedAt : 0;
  if (lifetime !== undefined && age >= lifetime) return restartFor(t, 'session-expired');
  const lost = ctx.attempts.lostSessions + 1;
  if (lost >= MAX_LOST_SESSIONS) return fail(t, 'no-shared-secret', 'push');
  return restartFor(t, lost >= 2 ? 'no-shared-secret' : 'lost-session', true);
};

/**
 * One switch per blob from a single body to chunks, never charged: the path said what it takes.
 * A body cut off (a reset, a proxy timeout) switches only when a chunk is smaller than the body.
 */
const chunk: Transition = (t) => {
  const { ctx } = t;
  const profile = ctx.client.registry.profile;
  const a = ctx.attempts;
  const mayChunk = ctx.policy.mode === 'auto' && profile.chunkedUploads && a.method !== 'chunked';
  const smaller = chunkOf(ctx, t.state) < ctx.blob.size;
  if (!mayChunk || (t.fault.kind === 'body-cut' && !smaller)) return undefined;
  profile.monolithicRefused(ctx.blob.size);
  a.largestRefused = Math.max(a.largestRefused ?? 0, ctx.blob.size);
  a.method = 'chunked';
  a.switchedToChunks = true;
  ctx.logger.info(
    `${ctx.blob.digest}: the single-body upload failed (${errorMessage(t.error)}); switching to chunks`,
  );
  return leave(t.state, { name: 'open' });
};

/** Half the chunk, in the same session; at the smallest chunk there is no way through. */
const shrink: Transition = (t) => {
  const { state, ctx } = t;
  if (state.name !== 'patch') return undefined;
  const length = Math.min(state.size, ctx.blob.size - state.offset);
  const floor = Math.max(CHUNK_FLOOR, state.session.minChunk ?? 0);
  const a = ctx.attempts;
  if (state.size <= floor) {
    a.smallestRefused = length;
    return fail(t, 'body-limit-at-floor');
  }
  ctx.client.registry.profile.chunkRefusedAsTooLarge(length);
  a.shrinks++;
  const size = Math.max(floor, Math.floor(length / 2));
  ctx.logger.info(
    `${ctx.blob.digest}: a chunk of ${formatSize(length)} was refused as too large; chunks are now ${formatSize(size)}`,
  );
  return { ...state, size };
};

/**
 * Parts already stored are too small for this registry (ECR checks each part when the next comes):
 * a new session with larger chunks, while the grows and the session's window allow. The size refused
 * is the chunk size, not the length of a short last piece.
 */
const grow: Transition = (t) => {
  const { state, ctx } = t;
  const size = state.name === 'patch' ? state.size : chunkOf(ctx, state);
  const ceiling = 'session' in state ? state.session.maxChunk : undefined;
  if (ctx.attempts.grows >= MAX_GROWS || (ceiling && size >= ceiling)) return undefined;
  const profile = ctx.client.registry.profile;
  profile.chunkRefusedAsTooSmall(size);
  ctx.attempts.grows++;
  ctx.logger.info(
    `${ctx.blob.digest}: chunks of ${formatSize(size)} were refused as too small; starting again with ${formatSize(profile.chunkSize(ctx.policy.chunkSize))}`,
  );
  return leave(state, { name: 'open' });
};

/** A refused mount: uploaded instead; a source refused once is not asked again. */
const plainUpload: Transition = (t) => {
  const { ctx, state } = t;
  if (ctx.mountOnly) return fail(t, 'input', 'push');
  const registry = ctx.client.registry;
  const message = errorMessage(t.error);
  // The mount itself was refused (no pull access, another project, a token service refusing the
  // source's scope): not a 202, which only says the source lacks this blob.
  const from = ctx.mountFrom;
  if (state.name === 'mount' && from && !registry.profile.mountsRefusedFrom.has(from)) {
    // Said once per source, never a failure: the report warns from the observation.
    registry.profile.mountsRefusedFrom.add(from);
    registry.observations.mountsRefusedFrom.push(from);
    ctx.logger.info(
      `${registry.name}: mounting from ${from} was refused (${message}); blobs are uploaded instead`,
    );
  }
  record(
    ctx.outcome,
    state.name === 'mount-verify'
      ? `mount from ${from} acknowledged, then HEAD: ${message}`
      : `mount from ${from} refused (${message}); uploading instead`,
  );
  return { name: 'open' };
};

/** A blob not yet served after its commit: asked again while replicas may lag. Never charged. */
const lag: Transition = (t) => {
  const a = t.ctx.attempts;
  if (t.fault.cause !== 'vanished-after-ack' || a.lagHeads >= t.ctx.policy.verifyLagRetries)
    return undefined;
  a.lagHeads++;
  return { name: 'wait', ms: backoffDelay(a.lagHeads - 1, t.ctx.clock), then: { name: 'verify' } };
};

/** How the registry lost an acknowledged blob, for the blob's record. */
function lostLine(t: Turn): string {
  if (t.state.name !== 'vanished')
    return `upload ${t.ctx.attempts.reuploads + 1} acknowledged (201), then HEAD: ${errorMessage(t.error)}`;
  const code = t.state.error.codes[0]?.code ?? t.state.error.status;
  return `verified, then the manifest PUT answered ${code}`;
}

/** The registry lost a blob it had acknowledged: uploaded again, within `reuploads`. */
const reupload: Transition = (t) => {
  const { ctx, fault, error } = t;
  const a = ctx.attempts;
  ctx.outcome.vanishedAfterAck ||= fault.cause === 'vanished-after-ack';
  record(ctx.outcome, lostLine(t), error instanceof RegistryError ? error : undefined);
  if (a.reuploads >= ctx.policy.reuploads || !charge(t)) return spent(t);
  a.reuploads++;
  a.lagHeads = 0;
  ctx.logger.info(
    `${ctx.blob.digest}: acknowledged but ${errorMessage(error)}; uploading it again`,
  );
  return { name: 'open' };
};

/**
 * Never charged, and once per session (its Location is then the registry's own): the Location named
 * a host the runner cannot reach, and the same path on the registry's own host is tried (a proxy
 * leaking its origin's address usually serves it). If that is no session either, the rules end the
 * push with this host named.
 */
const ownHost: Transition = (t) => {
  const { state, ctx } = t;
  if (!('session' in state)) return undefined;
  const registry = ctx.client.registry;
  const from = state.session.location.host;
  registry.profile.locationsOnOwnHost = true;
  if (!registry.observations.locationMovedFrom) {
    // The warning is the report's, from the observation; the log says what happened.
    registry.observations.locationMovedFrom = from;
    ctx.logger.info(
      `${registry.name}: upload Locations name ${from}, which cannot be reached (${errorMessage(t.error)}); sending them to ${registry.apiHost} instead`,
    );
  }
  const location = onOwnHost(state.session.location, registry.baseUrl);
  return { ...state, session: { ...state.session, location } } as State;
};

/** Every action a table row may name, and what it does. */
export const TRANSITIONS = {
  retry,
  resume,
  restart,
  'new-session': newSession,
  chunk,
  shrink,
  grow,
  'plain-upload': plainUpload,
  lag,
  reupload,
  'own-host': ownHost,
} satisfies Record<string, Transition>;

export type Action = keyof typeof TRANSITIONS;
