import { onOwnHost } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import type { CauseId, Fault } from '../registry/failure.js';
import { backoffDelay, mayRetry, waitFor } from '../registry/retry.js';
import { errorMessage } from '../util/errors.js';
import { formatSize } from '../util/format.js';
import { MAX_GROWS } from './attempts.js';
import type { Active, MachineContext, State } from './blob-state.js';
import { type Learned, type Next, go } from './learned.js';
import { isChunkReason } from './outcome.js';
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
 * What one move does from the state that failed: the next state and what it learned, or `undefined`
 * when the move does not apply there (the machine's table then tries the next one listed, and after
 * the last the blob fails with the fault's cause). A move reads; the loop applies what it learned.
 */
export type Transition = (t: Turn) => Next | undefined;

/** The size of the chunk a failed step was sending, or would send. */
export function chunkOf(ctx: MachineContext, state: Active): number {
  if (state.name === 'patch') return Math.min(state.size, ctx.blob.size - state.offset);
  return ctx.client.registry.profile.chunkSize(ctx.policy.chunkSize);
}

/** A line for the blob's record, with the registry's error it is about. */
export const tried = (line: string, error?: unknown): Learned => ({
  fact: 'tried',
  line,
  error: error instanceof RegistryError ? error : undefined,
});

/** Drops the session (best effort), then goes on. */
function leave(state: Active, then: State): State {
  return 'session' in state ? { name: 'cancel', session: state.session, then } : then;
}

/** The blob fails (after dropping its session), for `cause`: alone, or stopping the push. */
export function fail(
  t: Turn,
  cause: CauseId,
  stops: 'blob' | 'push' = 'blob',
  ...learned: Learned[]
): Next {
  const decision = { action: stops === 'push' ? 'fail-push' : 'fail-blob', cause } as const;
  return go(leave(t.state, { name: 'failed', error: t.error, decision }), ...learned);
}

/** The end of a table row: the fault ends the blob, or the push when nothing else can succeed. */
export function end(t: Turn): Next {
  const { state, ctx, error } = t;
  const stops = t.fault.kind === 'fatal' || t.fault.kind === 'auth' ? 'push' : 'blob';
  if (state.name !== 'verify') return fail(t, t.fault.cause, stops);
  const line = `upload ${ctx.attempts.reuploads + 1} acknowledged (201), then HEAD: ${errorMessage(error)}`;
  return fail(t, t.fault.cause, stops, tried(line, error));
}

/** Tries again the budget does not allow: the blob fails with the fault's cause. */
const spent = (t: Turn, ...learned: Learned[]): Next => fail(t, t.fault.cause, 'blob', ...learned);

/**
 * The one place a try again is charged: undefined when the budget is spent, else what the try
 * costs (a charge, and a longer wait next time) and how long to wait. Every move that sends
 * something again passes here, and nothing else in the machine spends the budget.
 */
function charge(
  t: Turn,
  resend: boolean,
  quick = t.fault.quick,
): { ms: number; cost: Learned[] } | undefined {
  const a = t.ctx.attempts;
  if (a.budget.left <= 0) return undefined;
  const headers = t.error instanceof RegistryError ? t.error.headers : {};
  const ms = waitFor({ quick }, a.retries, t.ctx.clock, headers);
  return { ms, cost: [{ fact: 'charged', resend }, { fact: 'waited' }] };
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** The same request again, after a wait; quick retries stop at their own count. */
const retry: Transition = (t) => {
  if (!mayRetry(t.fault, t.ctx.attempts.retries)) return undefined;
  const paid = charge(t, true);
  if (!paid) return spent(t);
  const { error } = t;
  const what = error instanceof RegistryError ? `${error.method} ${error.url}` : t.state.name;
  const why = error instanceof RegistryError ? error.answer : errorMessage(error);
  t.ctx.logger.info(`${what}: ${why}; trying again in ${seconds(paid.ms)}`);
  return go({ name: 'wait', ms: paid.ms, then: t.state }, ...paid.cost);
};

/** A chunk that failed: the session is asked where it stands, and goes on from there. */
const resume: Transition = (t) => {
  const { state, ctx } = t;
  if (state.name !== 'patch') return undefined;
  const paid = charge(t, true);
  if (!paid) return spent(t);
  const sent = state.offset + Math.min(state.size, ctx.blob.size - state.offset);
  ctx.logger.info(
    `${ctx.blob.digest}: ${errorMessage(t.error)}; asking the registry where the upload stands`,
  );
  const then: State = { name: 'status', session: state.session, sent, size: state.size };
  return go({ name: 'wait', ms: paid.ms, then }, ...paid.cost);
};

/** A new session from byte 0, for `cause`; never more than `retries` of them. */
function restartFor(t: Turn, cause: CauseId, quick?: boolean): Next {
  const { ctx } = t;
  const stopped = ctx.stopped?.();
  // Stopped for another blob's reason: this blob failed for that same reason, not its own.
  if (stopped) return fail(t, stopped);
  const paid = ctx.attempts.restarts < ctx.policy.retries ? charge(t, false, quick) : undefined;
  if (!paid) return fail(t, cause);
  const lostSession = cause === 'lost-session' || cause === 'no-shared-secret';
  ctx.logger.info(
    `${ctx.blob.digest}: upload failed (${errorMessage(t.error)}); starting again in ${seconds(paid.ms)}`,
  );
  const then: State = { name: 'open' };
  return go(leave(t.state, { name: 'wait', ms: paid.ms, then }), ...paid.cost, {
    fact: 'restarted',
    lostSession,
  });
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
  const mayChunk =
    ctx.policy.mode === 'auto' && profile.chunkedUploads && ctx.attempts.method !== 'chunked';
  const smaller = chunkOf(ctx, t.state) < ctx.blob.size;
  const because = t.fault.kind;
  if (!mayChunk || !isChunkReason(because) || (because === 'body-cut' && !smaller))
    return undefined;
  ctx.logger.info(
    `${ctx.blob.digest}: the single-body upload failed (${errorMessage(t.error)}); switching to chunks`,
  );
  return go(leave(t.state, { name: 'open' }), {
    fact: 'switched-to-chunks',
    refused: ctx.blob.size,
    because,
  });
};

/** Half the chunk, in the same session; at the smallest chunk there is no way through. */
const shrink: Transition = (t) => {
  const { state, ctx } = t;
  if (state.name !== 'patch') return undefined;
  const length = Math.min(state.size, ctx.blob.size - state.offset);
  const floor = Math.max(CHUNK_FLOOR, state.session.minChunk ?? 0);
  if (state.size <= floor)
    return fail(t, 'body-limit-at-floor', 'blob', { fact: 'refused-at-floor', size: length });
  const size = Math.max(floor, Math.floor(length / 2));
  ctx.logger.info(
    `${ctx.blob.digest}: a chunk of ${formatSize(length)} was refused as too large; chunks are now ${formatSize(size)}`,
  );
  return go({ ...state, size }, { fact: 'chunk-too-large', size: length });
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
  ctx.logger.info(
    `${ctx.blob.digest}: chunks of ${formatSize(size)} were refused as too small; starting again with larger ones`,
  );
  return go(leave(state, { name: 'open' }), { fact: 'chunk-too-small', size });
};

/** A refused mount: uploaded instead; a source refused once is not asked again. */
const plainUpload: Transition = (t) => {
  const { ctx, state } = t;
  if (ctx.mountOnly) return fail(t, 'input', 'push');
  const registry = ctx.client.registry;
  const message = errorMessage(t.error);
  const from = ctx.mountFrom ?? '';
  if (state.name === 'mount-verify')
    return go({ name: 'open' }, tried(`mount from ${from} acknowledged, then HEAD: ${message}`));
  // The mount itself was refused (no pull access, another project, a token service refusing the
  // source's scope): not a 202, which only says the source lacks this blob. Said once per source.
  if (!registry.profile.mountsRefusedFrom.has(from))
    ctx.logger.info(
      `${registry.name}: mounting from ${from} was refused (${message}); blobs are uploaded instead`,
    );
  return go(
    { name: 'open' },
    { fact: 'mount-refused', from },
    tried(`mount from ${from} refused (${message}); uploading instead`),
  );
};

/** A blob not yet served after its commit: asked again while replicas may lag. Never charged. */
const lag: Transition = (t) => {
  const a = t.ctx.attempts;
  if (t.fault.cause !== 'vanished-after-ack' || a.lagHeads >= t.ctx.policy.verifyLagRetries)
    return undefined;
  const ms = backoffDelay(a.lagHeads, t.ctx.clock);
  return go({ name: 'wait', ms, then: { name: 'verify' } }, { fact: 'lag-head' });
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
  const seen: Learned[] = [tried(lostLine(t), error)];
  if (fault.cause === 'vanished-after-ack') seen.unshift({ fact: 'vanished-after-ack' });
  const paid = ctx.attempts.reuploads < ctx.policy.reuploads ? charge(t, false) : undefined;
  if (!paid) return spent(t, ...seen);
  ctx.logger.info(
    `${ctx.blob.digest}: acknowledged but ${errorMessage(error)}; uploading it again`,
  );
  // The wait is the lag HEADs' before it; a re-upload goes at once.
  return go({ name: 'open' }, ...seen, paid.cost[0]!, { fact: 'reuploaded' });
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
  // The warning is the report's, from the observation; the log says what happened.
  if (!registry.observations.locationMovedFrom)
    ctx.logger.info(
      `${registry.name}: upload Locations name ${from}, which cannot be reached (${errorMessage(t.error)}); sending them to ${registry.apiHost} instead`,
    );
  const location = onOwnHost(state.session.location, registry.baseUrl);
  const moved = { ...state, session: { ...state.session, location } } as State;
  return go(moved, { fact: 'location-moved', from });
};

/** Every move a table row may name, and what it does. */
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
