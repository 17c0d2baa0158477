import type { BlobFile } from '../oci/image.js';
import { type RepositoryClient, type UploadStart, onOwnHost } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import {
  type Action,
  type CauseId,
  type Decision,
  type Op,
  type Situation,
  classifyError,
} from '../registry/failure.js';
import { isSameHost } from '../registry/reference.js';
import { backoffDelay, waitFor } from '../registry/retry.js';
import type { Clock } from '../util/clock.js';
import type { Limiter } from '../util/concurrency.js';
import { InputError, errorMessage } from '../util/errors.js';
import { formatSize } from '../util/format.js';
import type { Logger } from '../util/logger.js';
import { type Attempts, MAX_GROWS, situation } from './attempts.js';
import { checkFileDigest, fileBody, fileRange } from './body.js';
import type { LocalProof } from './local-proof.js';
import { isEdge } from './machine-edges.js';
import type { BlobHow, BlobOutcome } from './outcome.js';
import { CHUNK_FLOOR, type TransferPolicy, uploadShares } from './policy.js';

/** An upload session: where it lives, the chunk window the registry gave, and when it opened. */
export interface Session {
  location: URL;
  minChunk?: number;
  maxChunk?: number;
  openedAt: number;
}

/**
 * A blob's life, one state per request. `wait` sends nothing and holds no place; `done`, `failed`
 * and `never-started` end the loop.
 */
export type State =
  | { name: 'check' }
  | { name: 'mount' }
  | { name: 'mount-verify' }
  | { name: 'open' }
  | { name: 'put'; session: Session }
  | { name: 'patch'; session: Session; offset: number; size: number }
  | { name: 'status'; session: Session; sent: number; size: number }
  | { name: 'commit'; session: Session }
  | { name: 'cancel'; session: Session; then: State }
  | { name: 'verify' }
  | { name: 'vanished'; error: RegistryError }
  | { name: 'wait'; ms: number; then: State }
  | { name: 'done'; how: BlobHow }
  | { name: 'failed'; error: unknown; decision: Decision }
  | { name: 'never-started' };

type Active = Exclude<State, { name: 'wait' | 'done' | 'failed' | 'never-started' }>;

/**
 * Where each step waits for a place. Checks move no bytes and run wide; a session's requests share
 * the one upload place the blob holds from `open` to `commit`, so `concurrency` bodies are in flight
 * at most. No place is held while waiting.
 */
export const LANE: Record<Active['name'], 'checks' | 'upload'> = {
  check: 'checks',
  mount: 'checks',
  'mount-verify': 'checks',
  verify: 'checks',
  vanished: 'checks',
  open: 'upload',
  put: 'upload',
  patch: 'upload',
  status: 'upload',
  commit: 'upload',
  cancel: 'upload',
};

/** The request each step sends, as the failure rules name it. */
const OP: Record<Active['name'], Op> = {
  check: 'exists',
  mount: 'mount',
  'mount-verify': 'mount-verify',
  verify: 'verify',
  vanished: 'manifest',
  open: 'open',
  put: 'put-blob',
  patch: 'patch',
  status: 'status',
  commit: 'commit',
  cancel: 'cancel',
};

export interface MachineContext {
  client: RepositoryClient;
  policy: TransferPolicy;
  clock: Clock;
  logger: Logger;
  blob: BlobFile;
  attempts: Attempts;
  outcome: BlobOutcome;
  /** Another repository on the same registry to mount from. */
  mountFrom?: string;
  /** No local file: a blob that cannot be mounted fails (index-from's copies). */
  mountOnly?: boolean;
  /** Whether the local file holds the blob, asked before any mount (hashed here when absent). */
  proof?: LocalProof;
  uploads: Limiter;
  checks: Limiter;
  onProgress?: (bytes: number) => void;
  /** The cause, once a blob failed in a way no other blob can get past (or the run was cancelled). */
  stopped?: () => CauseId | undefined;
  /** Says that this blob failed in a way no other blob can get past. */
  stop?: (cause: CauseId) => void;
}

type Terminal = Extract<State, { name: 'done' | 'failed' | 'never-started' }>;

/**
 * The one loop: each step sends one request and returns the next state. A step of the upload lane
 * takes the blob's upload place (once per session); a wait gives it back first.
 */
export async function runBlob(ctx: MachineContext, start: State): Promise<Terminal> {
  let state = start;
  const place: Place = {};
  try {
    for (;;) {
      switch (state.name) {
        case 'done':
        case 'failed':
        case 'never-started':
          return state;
        case 'wait': {
          release(place);
          await ctx.clock.sleep(state.ms);
          state = edge(state, state.then);
          continue;
        }
      }
      const current: Active = state;
      state = edge(
        current,
        LANE[current.name] === 'upload'
          ? await inUploadPlace(ctx, current, place)
          : await inChecksLane(ctx, current, place),
      );
      // Said before the place is given back, so no blob waiting for it starts in vain.
      if (state.name === 'failed' && state.decision.action === 'fail-push')
        ctx.stop?.(state.decision.cause);
    }
  } finally {
    release(place);
  }
}

/** The blob's upload place, held from `open` to `commit` and given back while it waits. */
interface Place {
  release?: () => void;
}

function release(place: Place): void {
  place.release?.();
  place.release = undefined;
}

/** Only the edges the table has: any other is a bug, said as one rather than taken. */
function edge(from: State, to: State): State {
  if (!isEdge(from.name, to.name))
    throw new Error(`the blob's machine has no edge from ${from.name} to ${to.name}`);
  return to;
}

/** A step of a session: it takes the blob's upload place first (once per session). */
async function inUploadPlace(ctx: MachineContext, current: Active, place: Place): Promise<State> {
  if (!place.release) {
    place.release = await ctx.uploads.acquire({ weight: uploadShares(ctx.policy, ctx.blob.size) });
    // Another blob stopped the push while this one waited for its place.
    const stopped = ctx.stopped?.();
    if (stopped) {
      const a = ctx.attempts;
      if (current.name === 'open' && a.sessions === 0 && a.reuploads === 0)
        return { name: 'never-started' };
      return stoppedBy(stopped, ctx);
    }
  }
  return step(ctx, current);
}

/** A step that moves no bytes: it waits in the checks lane, verifications first. */
function inChecksLane(ctx: MachineContext, current: Active, place: Place): Promise<State> {
  release(place);
  // A blob still waiting for its first check when the push stopped is left alone.
  return ctx.checks(
    async () =>
      current.name === 'check' && ctx.stopped?.()
        ? { name: 'never-started' as const }
        : step(ctx, current),
    { first: current.name === 'verify' },
  );
}

function stoppedBy(cause: CauseId, ctx: MachineContext): Terminal {
  const error = new Error(`stopped: another blob's failure (${cause}) ends the push`);
  ctx.attempts.decision = { action: 'fail-blob', cause };
  return { name: 'failed', error, decision: ctx.attempts.decision };
}

/** One request, and the state it leads to; a failure goes to the rules. */
async function step(ctx: MachineContext, state: Active): Promise<State> {
  try {
    const next = await (STEPS[state.name] as Step<typeof state.name>)(ctx, state as never);
    if (state.name !== 'cancel') ctx.attempts.retries = 0;
    return next;
  } catch (error) {
    return failed(ctx, state, await explained(ctx, state, error));
  }
}

/**
 * The bytes are not hashed as they go out: the registry checks them against the digest. When it
 * refuses them (DIGEST_INVALID), the local file is hashed once, so the rules can tell a corrupt
 * layout (said as such, naming the file) from bytes changed on the way.
 */
async function explained(ctx: MachineContext, state: Active, error: unknown): Promise<unknown> {
  const refused =
    error instanceof RegistryError && error.codes.some((c) => c.code === 'DIGEST_INVALID');
  if (!refused || ctx.attempts.fileChecked || (state.name !== 'put' && state.name !== 'commit'))
    return error;
  try {
    await checkFileDigest(ctx.blob);
  } catch (corrupt) {
    return corrupt;
  }
  ctx.attempts.fileChecked = true;
  return error;
}

type Step<N extends Active['name']> = (
  ctx: MachineContext,
  state: Extract<Active, { name: N }>,
) => Promise<State>;

/** Where each state's request leads when it succeeds: one step a state, one request a step. */
const STEPS: { [N in Active['name']]: Step<N> } = {
  check: async (ctx) => {
    const stat = await ctx.client.statBlob(ctx.blob.digest, 'exists');
    if (stat.exists && (stat.size === undefined || stat.size === ctx.blob.size))
      return { name: 'done', how: 'present' };
    // A source the registry refused once (no pull access there) is not asked again.
    const refused =
      ctx.mountFrom && ctx.client.registry.profile.mountsRefusedFrom.has(ctx.mountFrom);
    return ctx.mountFrom && !refused ? { name: 'mount' } : { name: 'open' };
  },
  mount: async (ctx) => {
    // Never mount bytes the layout does not hold: the file must hash to the digest first.
    if (!ctx.mountOnly) await (ctx.proof ? ctx.proof.proven(ctx.blob) : checkFileDigest(ctx.blob));
    const start = await ctx.client.startUpload({ digest: ctx.blob.digest, from: ctx.mountFrom! });
    if (start.mounted) return { name: 'mount-verify' };
    if (ctx.mountOnly) throw notMountable(ctx, start.location);
    // A 202: the registry did not have it there, and this session takes the upload instead.
    return begin(ctx, start);
  },
  'mount-verify': async (ctx) => {
    await verify(ctx, 'mount-verify');
    return { name: 'done', how: 'mounted' };
  },
  open: async (ctx) => {
    const start = await ctx.client.startUpload();
    if (start.mounted) throw new Error('the registry answered a plain upload as a mount');
    return begin(ctx, start);
  },
  put: async (ctx, state) => {
    const { blob } = ctx;
    await ctx.client.putBlob(state.session.location, blob.digest, blob.size, fileBody(blob), {
      onProgress: ctx.onProgress,
    });
    ctx.attempts.chunks = 1;
    return { name: 'verify' };
  },
  patch: sendChunk,
  status: async (ctx, state) => {
    const status = await ctx.client.uploadStatus(state.session.location);
    // Never trust a registry's offset past the bytes actually sent.
    const offset = Math.min(status.offset, state.sent);
    ctx.logger.info(`${ctx.blob.digest}: resuming the upload at byte ${offset}`);
    ctx.attempts.resumed = true;
    const session = { ...state.session, location: status.location };
    return { name: 'patch', session, offset, size: state.size };
  },
  commit: async (ctx, state) => {
    await ctx.client.commitUpload(state.session.location, ctx.blob.digest, ctx.blob.size);
    return { name: 'verify' };
  },
  cancel: async (ctx, state) => {
    await ctx.client.cancelUpload(state.session.location);
    return state.then;
  },
  verify: async (ctx) => {
    await verify(ctx, 'verify');
    const a = ctx.attempts;
    // Only the HEADs asked again before a verification that found the blob were replica lag;
    // those before a re-upload were the registry losing it.
    a.lagTotal += a.lagHeads;
    ctx.proof?.accepted(ctx.blob.digest);
    return { name: 'done', how: a.method };
  },
  // The manifest PUT said the registry lost this blob: that answer is the step's failure.
  vanished: async (_ctx, state) => {
    throw state.error;
  },
};

/** One chunk; the session goes on from where it ends, or commits after the last. */
async function sendChunk(
  ctx: MachineContext,
  state: Extract<Active, { name: 'patch' }>,
): Promise<State> {
  const { client, blob, attempts: a } = ctx;
  const length = Math.min(state.size, blob.size - state.offset);
  const base = state.offset;
  const location = await client.patchChunk(
    state.session.location,
    state.offset,
    length,
    fileRange(blob.path, state.offset, length),
    { onProgress: ctx.onProgress && ((n) => ctx.onProgress!(base + n)) },
  );
  a.chunks++;
  a.chunkWentThrough = state.size;
  if (length === state.size) client.registry.profile.chunkWentThrough(state.size);
  // The upload moved forward: failures before it say nothing about the next ones.
  a.budget.refill();
  const session = { ...state.session, location };
  const offset = state.offset + length;
  return offset < blob.size
    ? { name: 'patch', session, offset, size: state.size }
    : { name: 'commit', session };
}

/** A blob with no local copy that the registry would not mount: the session is dropped. */
function notMountable(ctx: MachineContext, location: URL): Error {
  void ctx.client.cancelUpload(location);
  return new InputError(
    `blob ${ctx.blob.digest} cannot be mounted from ${ctx.mountFrom}, and there is no local copy to upload`,
  );
}

/** A new session: one body, or chunks when the mode, the host or an earlier refusal says so. */
function begin(ctx: MachineContext, start: Extract<UploadStart, { mounted: false }>): State {
  const { policy, blob, attempts: a } = ctx;
  const profile = ctx.client.registry.profile;
  a.sessions++;
  a.resumed = false;
  a.chunks = 0;
  const session: Session = {
    location: start.location,
    minChunk: start.minChunk,
    maxChunk: start.maxChunk,
    openedAt: ctx.clock.now(),
  };
  const chunked =
    a.method === 'chunked' ||
    policy.mode === 'chunked' ||
    (policy.mode === 'auto' && profile.prefersChunks(blob.size));
  a.method = chunked ? 'chunked' : 'monolithic';
  if (!chunked) return { name: 'put', session };
  const size = effectiveChunkSize(
    profile.chunkSize(policy.chunkSize),
    start.minChunk,
    start.maxChunk,
  );
  return { name: 'patch', session, offset: 0, size };
}

/** The chunk size within the registry's window and our floor. */
export function effectiveChunkSize(requested: number, min?: number, max?: number): number {
  let size = Math.max(requested, CHUNK_FLOOR);
  if (min !== undefined && size < min) size = min;
  if (max !== undefined && max > 0 && size > max) size = max;
  return size;
}

/**
 * HEAD after a commit or a mount: the registry must serve the blob with our size and digest (a
 * digest of the same algorithm: distribution reports sha256 even for a sha512 upload). Anything
 * else is thrown as the answer it was, for the rules.
 */
async function verify(ctx: MachineContext, op: 'verify' | 'mount-verify'): Promise<void> {
  const { client, blob } = ctx;
  const stat = await client.statBlob(blob.digest, 'verify');
  const sameAlgorithm = stat.digest?.split(':')[0] === blob.digest.split(':')[0];
  const reason = !stat.exists
    ? `HEAD answered ${stat.status} after the upload was acknowledged`
    : stat.digest && sameAlgorithm && stat.digest !== blob.digest
      ? `the registry reports digest ${stat.digest}`
      : stat.size !== undefined && stat.size !== blob.size
        ? `the registry reports ${stat.size} bytes, expected ${blob.size}`
        : undefined;
  if (!reason) return;
  throw new RegistryError({
    method: 'HEAD',
    op,
    url: new URL(`/v2/${client.repository}/blobs/${blob.digest}`, client.registry.baseUrl),
    status: stat.status,
    mismatch: stat.exists ? reason : undefined,
    context: reason,
  });
}

/** The size of the chunk a failed step was sending, for the rules. */
function chunkOf(ctx: MachineContext, state: Active): number {
  if (state.name === 'patch') return Math.min(state.size, ctx.blob.size - state.offset);
  return ctx.client.registry.profile.chunkSize(ctx.policy.chunkSize);
}

/** Causes that say a request body was refused as too large. */
const BODY_REFUSED = new Set<CauseId>([
  'cloudflare-body-limit',
  'nginx-body-limit',
  'proxy-body-limit',
  'body-limit-at-floor',
]);

/** What the rules read about this blob's history and this request, for one failure. */
function situationFor(ctx: MachineContext, state: Active): Situation {
  const { policy, blob, attempts: a } = ctx;
  const registry = ctx.client.registry;
  const session = 'session' in state ? state.session : undefined;
  return situation(a, policy, {
    authorized: registry.authorized,
    chunked: a.method === 'chunked',
    mayChunk: policy.mode === 'auto' && registry.profile.chunkedUploads,
    blobSize: blob.size,
    // A grow is judged by the chunk size refused, not the length of a short last piece.
    chunkSize: state.name === 'patch' ? state.size : chunkOf(ctx, state),
    chunkFloor: Math.max(CHUNK_FLOOR, session?.minChunk ?? 0),
    chunkCeiling: session?.maxChunk || undefined,
    growsLeft: MAX_GROWS - a.grows,
    foreignLocation: session !== undefined && !isSameHost(session.location, registry.apiHost),
    onOwnHost:
      registry.profile.locationsOnOwnHost &&
      session !== undefined &&
      isSameHost(session.location, registry.apiHost),
    sessionAgeMs: session ? ctx.clock.now() - session.openedAt : undefined,
    sessionLifetimeMs: registry.profile.sessionLifetimeMs,
    blobKnown: state.name === 'vanished' ? true : undefined,
  });
}

/** What a failure taught, before its transition: the host's profile and the blob's record. */
function learn(ctx: MachineContext, state: Active, decision: Decision, error: unknown): void {
  const { blob, attempts: a } = ctx;
  // A session lost after it took chunks may have expired: the host's profile learns its age.
  if (decision.cause === 'lost-session' && state.name === 'patch' && state.offset > 0)
    ctx.client.registry.profile.sessionLostAt(ctx.clock.now() - state.session.openedAt);
  a.decision = decision;
  const refused =
    BODY_REFUSED.has(decision.cause) || decision.action === 'chunk' || decision.action === 'shrink';
  const body = state.name === 'put' ? blob.size : state.name === 'patch' ? chunkOf(ctx, state) : 0;
  if (refused && body) a.refusedBody = Math.max(a.refusedBody ?? 0, body);
  if (LANE[state.name] === 'upload' && error instanceof RegistryError)
    record(ctx.outcome, `${a.method} upload: ${error.message}`, error);
}

/** The failure rules decide; the transition table only carries the decision out. */
function failed(ctx: MachineContext, state: Active, error: unknown): State {
  const decision = classifyError(error, situationFor(ctx, state), OP[state.name]);
  learn(ctx, state, decision, error);
  return TRANSITIONS[decision.action]({ ctx, state, decision, error });
}

function record(outcome: BlobOutcome, line: string, error?: RegistryError): void {
  outcome.tried.push(line);
  if (error && !outcome.errors.includes(error)) outcome.errors.push(error);
}

function headersOf(error: unknown): Record<string, string> {
  return error instanceof RegistryError ? error.headers : {};
}

/** Drops the session (best effort), then goes on. */
function leave(state: Active, then: State): State {
  return 'session' in state ? { name: 'cancel', session: state.session, then } : then;
}

/** One failure and the rules' decision on it. */
interface Turn {
  ctx: MachineContext;
  state: Active;
  decision: Decision;
  error: unknown;
}

/** The blob fails (after dropping its session): with the rules' decision, or `d`. */
function fail(t: Turn, d: Decision = t.decision): State {
  return leave(t.state, { name: 'failed', error: t.error, decision: d });
}

/**
 * The one place a try again is charged: false when the budget is spent. Every transition that
 * sends something again passes here, and nothing else charges the budget.
 */
function charge(t: Turn): boolean {
  return t.ctx.attempts.budget.spend();
}

/** The same request sent again (a retry, a resume): charged, and counted as a retry. */
function chargeResend(t: Turn): boolean {
  if (!charge(t)) return false;
  t.ctx.attempts.retried++;
  return true;
}

/** The wait before a try again: Retry-After, the quick schedule, or backoff. */
function backoff(t: Turn): number {
  return waitFor(t.decision, t.ctx.attempts.retries++, t.ctx.clock, headersOf(t.error));
}

const spent = (t: Turn): State => fail(t, { ...t.decision, action: 'fail-blob' });

/** Where each of the rules' decisions leads, from the state that failed. */
const TRANSITIONS: Record<Action, (t: Turn) => State> = {
  retry: (t) => {
    if (!chargeResend(t)) return spent(t);
    const ms = backoff(t);
    const { error } = t;
    const what = error instanceof RegistryError ? `${error.method} ${error.url}` : t.state.name;
    const why = error instanceof RegistryError ? error.answer : errorMessage(error);
    t.ctx.logger.info(`${what}: ${why}; trying again in ${(ms / 1000).toFixed(1)} s`);
    return { name: 'wait', ms, then: t.state };
  },
  resume: (t) => {
    const { state, ctx } = t;
    if (state.name !== 'patch' || !chargeResend(t)) return spent(t);
    const ms = backoff(t);
    const sent = state.offset + Math.min(state.size, ctx.blob.size - state.offset);
    ctx.logger.info(
      `${ctx.blob.digest}: ${errorMessage(t.error)}; asking the registry where the upload stands`,
    );
    const then: State = { name: 'status', session: state.session, sent, size: state.size };
    return { name: 'wait', ms, then };
  },
  restart: (t) => {
    const { ctx, decision } = t;
    const a = ctx.attempts;
    const stopped = ctx.stopped?.();
    // Stopped for another blob's reason: this blob failed for that same reason, not its own.
    if (stopped) return fail(t, { action: 'fail-blob', cause: stopped });
    if (a.restarts >= ctx.policy.retries || !charge(t)) return spent(t);
    a.restarts++;
    if (decision.cause === 'lost-session' || decision.cause === 'no-shared-secret')
      a.lostSessions++;
    const ms = backoff(t);
    ctx.logger.info(
      `${ctx.blob.digest}: upload failed (${errorMessage(t.error)}); starting again in ${(ms / 1000).toFixed(1)} s`,
    );
    return leave(t.state, { name: 'wait', ms, then: { name: 'open' } });
  },
  // One switch per blob, and never charged: the path said what it takes.
  chunk: (t) => {
    const { ctx } = t;
    ctx.client.registry.profile.monolithicRefused(ctx.blob.size);
    ctx.attempts.method = 'chunked';
    ctx.attempts.switchedToChunks = true;
    ctx.logger.info(
      `${ctx.blob.digest}: the single-body upload failed (${errorMessage(t.error)}); switching to chunks`,
    );
    return leave(t.state, { name: 'open' });
  },
  shrink: (t) => {
    const { state, ctx } = t;
    if (state.name !== 'patch') return spent(t);
    const length = Math.min(state.size, ctx.blob.size - state.offset);
    const floor = Math.max(CHUNK_FLOOR, state.session.minChunk ?? 0);
    ctx.client.registry.profile.chunkRefusedAsTooLarge(length);
    ctx.attempts.shrinks++;
    const size = Math.max(floor, Math.floor(length / 2));
    ctx.logger.info(
      `${ctx.blob.digest}: a chunk of ${formatSize(length)} was refused as too large; chunks are now ${formatSize(size)}`,
    );
    return { ...state, size };
  },
  // Parts already stored are too small for this registry (ECR checks each part when the next
  // comes): a new session with larger chunks. The size refused is the chunk size, not the length
  // of a short last piece.
  grow: (t) => {
    const { state, ctx } = t;
    const size = state.name === 'patch' ? state.size : chunkOf(ctx, state);
    const profile = ctx.client.registry.profile;
    profile.chunkRefusedAsTooSmall(size);
    ctx.attempts.grows++;
    ctx.logger.info(
      `${ctx.blob.digest}: chunks of ${formatSize(size)} were refused as too small; starting again with ${formatSize(profile.chunkSize(ctx.policy.chunkSize))}`,
    );
    return leave(state, { name: 'open' });
  },
  'plain-upload': plainUpload,
  lag: (t) => {
    const a = t.ctx.attempts;
    a.lagHeads++;
    return {
      name: 'wait',
      ms: backoffDelay(a.lagHeads - 1, t.ctx.clock),
      then: { name: 'verify' },
    };
  },
  reupload: (t) => {
    const { ctx, decision, error } = t;
    const a = ctx.attempts;
    ctx.outcome.vanishedAfterAck ||= decision.cause === 'vanished-after-ack';
    record(ctx.outcome, lostLine(t), error instanceof RegistryError ? error : undefined);
    if (a.reuploads >= ctx.policy.reuploads || !charge(t)) return spent(t);
    a.reuploads++;
    a.lagHeads = 0;
    ctx.logger.info(
      `${ctx.blob.digest}: acknowledged but ${errorMessage(error)}; uploading it again`,
    );
    return { name: 'open' };
  },
  'own-host': ownHost,
  'fail-blob': failHere,
  'fail-push': failHere,
};

/** How the registry lost an acknowledged blob, for the blob's record. */
function lostLine(t: Turn): string {
  if (t.state.name !== 'vanished')
    return `upload ${t.ctx.attempts.reuploads + 1} acknowledged (201), then HEAD: ${errorMessage(t.error)}`;
  const code = t.state.error.codes[0]?.code ?? t.state.error.status;
  return `verified, then the manifest PUT answered ${code}`;
}

/** A refused mount: uploaded instead; a source refused once is not asked again. */
function plainUpload(t: Turn): State {
  const { ctx, state } = t;
  if (ctx.mountOnly) return fail(t, { action: 'fail-push', cause: 'input' });
  const registry = ctx.client.registry;
  const message = errorMessage(t.error);
  // The mount itself was refused (no pull access, another project, a token service refusing the
  // source's scope): not a 202, which only says the source lacks this blob.
  if (
    state.name === 'mount' &&
    ctx.mountFrom &&
    !registry.profile.mountsRefusedFrom.has(ctx.mountFrom)
  ) {
    // Said once per source, never a failure: the blobs are uploaded instead. The warning is the
    // report's, from the observation; the log says what happened.
    registry.profile.mountsRefusedFrom.add(ctx.mountFrom);
    registry.observations.mountsRefusedFrom.push(ctx.mountFrom);
    ctx.logger.info(
      `${registry.name}: mounting from ${ctx.mountFrom} was refused (${message}); blobs are uploaded instead`,
    );
  }
  record(
    ctx.outcome,
    state.name === 'mount-verify'
      ? `mount from ${ctx.mountFrom} acknowledged, then HEAD: ${message}`
      : `mount from ${ctx.mountFrom} refused (${message}); uploading instead`,
  );
  return { name: 'open' };
}

/**
 * Never charged, and once per session (its Location is then the registry's own): the Location
 * named a host the runner cannot reach, and the same path on the registry's own host is tried (a
 * proxy leaking its origin's address usually serves it). If that is no session either, the rules
 * end the push with this host named.
 */
function ownHost(t: Turn): State {
  const { state, ctx } = t;
  if (!('session' in state)) return fail(t, { ...t.decision, action: 'fail-push' });
  const registry = ctx.client.registry;
  const from = state.session.location.host;
  registry.profile.locationsOnOwnHost = true;
  if (!registry.observations.locationMovedFrom) {
    registry.observations.locationMovedFrom = from;
    // The warning is the report's, from the observation; the log says what happened.
    ctx.logger.info(
      `${registry.name}: upload Locations name ${from}, which cannot be reached (${errorMessage(t.error)}); sending them to ${registry.apiHost} instead`,
    );
  }
  const location = onOwnHost(state.session.location, registry.baseUrl);
  return { ...state, session: { ...state.session, location } } as State;
}

/** The blob fails here; a verification that failed says what the registry acknowledged first. */
function failHere(t: Turn): State {
  const { state, ctx, decision, error } = t;
  if (state.name === 'verify')
    record(
      ctx.outcome,
      `upload ${ctx.attempts.reuploads + 1} acknowledged (201), then HEAD: ${errorMessage(error)}`,
      error instanceof RegistryError ? error : undefined,
    );
  if (decision.cause === 'body-limit-at-floor') ctx.attempts.refusedBytes = chunkOf(ctx, state);
  return fail(t);
}
