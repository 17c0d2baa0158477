import type { BlobFile } from '../oci/image.js';
import { type RepositoryClient, type UploadStart, onOwnHost } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import {
  type CauseId,
  type Decision,
  MISMATCH,
  type Op,
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
  let release: (() => void) | undefined;
  const drop = (): void => {
    release?.();
    release = undefined;
  };
  try {
    for (;;) {
      switch (state.name) {
        case 'done':
        case 'failed':
        case 'never-started':
          return state;
        case 'wait': {
          drop();
          await ctx.clock.sleep(state.ms);
          state = state.then;
          continue;
        }
      }
      const current: Active = state;
      if (LANE[current.name] === 'upload') {
        if (!release) {
          release = await ctx.uploads.acquire({
            weight: uploadShares(ctx.policy, ctx.blob.size),
          });
          // Another blob stopped the push while this one waited for its place.
          const stopped = ctx.stopped?.();
          if (stopped) {
            const a = ctx.attempts;
            if (current.name === 'open' && a.sessions === 0 && a.reuploads === 0)
              return { name: 'never-started' };
            return stoppedBy(stopped, ctx);
          }
        }
        state = await step(ctx, current);
      } else {
        drop();
        // A blob still waiting for its first check when the push stopped is left alone.
        state = await ctx.checks(
          async () =>
            current.name === 'check' && ctx.stopped?.()
              ? { name: 'never-started' as const }
              : step(ctx, current),
          { first: current.name === 'verify' },
        );
      }
      // Said before the place is given back, so no blob waiting for it starts in vain.
      if (state.name === 'failed' && state.decision.action === 'fail-push')
        ctx.stop?.(state.decision.cause);
    }
  } finally {
    drop();
  }
}

function stoppedBy(cause: CauseId, ctx: MachineContext): Terminal {
  const error = new Error(`stopped: another blob's failure (${cause}) ends the push`);
  ctx.attempts.decision = { action: 'fail-blob', cause };
  return { name: 'failed', error, decision: ctx.attempts.decision };
}

/** One request, and the state it leads to; a failure goes to the rules. */
async function step(ctx: MachineContext, state: Active): Promise<State> {
  try {
    const next = await send(ctx, state);
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

async function send(ctx: MachineContext, state: Active): Promise<State> {
  const { client, blob, attempts: a } = ctx;
  switch (state.name) {
    case 'check': {
      const stat = await client.statBlob(blob.digest, 'exists');
      if (stat.exists && (stat.size === undefined || stat.size === blob.size))
        return { name: 'done', how: 'present' };
      // A source the registry refused once (no pull access there) is not asked again.
      const refused = ctx.mountFrom && client.registry.profile.mountsRefusedFrom.has(ctx.mountFrom);
      if (!ctx.mountFrom || refused) return { name: 'open' };
      if (!ctx.mountOnly) ctx.proof?.begin(blob);
      return { name: 'mount' };
    }
    case 'mount': {
      // Never mount bytes the layout does not hold: the file must hash to the digest first.
      if (!ctx.mountOnly) await (ctx.proof ? ctx.proof.proven(blob) : checkFileDigest(blob));
      const start = await client.startUpload({ digest: blob.digest, from: ctx.mountFrom! });
      if (start.mounted) return { name: 'mount-verify' };
      if (ctx.mountOnly) throw notMountable(ctx, start.location);
      // A 202: the registry did not have it there, and this session takes the upload instead.
      return begin(ctx, start);
    }
    case 'mount-verify':
      await verify(ctx, 'mount-verify');
      return { name: 'done', how: 'mounted' };
    case 'open': {
      const start = await client.startUpload();
      if (start.mounted) throw new Error('the registry answered a plain upload as a mount');
      return begin(ctx, start);
    }
    case 'put':
      await client.putBlob(state.session.location, blob.digest, blob.size, fileBody(blob), {
        onProgress: ctx.onProgress,
      });
      a.chunks = 1;
      return { name: 'verify' };
    case 'patch': {
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
    case 'status': {
      const status = await client.uploadStatus(state.session.location);
      // Never trust a registry's offset past the bytes actually sent.
      const offset = Math.min(status.offset, state.sent);
      ctx.logger.info(`${blob.digest}: resuming the upload at byte ${offset}`);
      a.resumed = true;
      return {
        name: 'patch',
        session: { ...state.session, location: status.location },
        offset,
        size: state.size,
      };
    }
    case 'commit':
      await client.commitUpload(state.session.location, blob.digest, blob.size);
      return { name: 'verify' };
    case 'cancel':
      await client.cancelUpload(state.session.location);
      return state.then;
    case 'verify':
      await verify(ctx, 'verify');
      // Only the HEADs asked again before a verification that found the blob were replica lag;
      // those before a re-upload were the registry losing it.
      a.lagTotal += a.lagHeads;
      ctx.proof?.accepted(blob.digest);
      return { name: 'done', how: a.method };
  }
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
    codes: stat.exists ? [{ code: MISMATCH, message: reason }] : [],
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

/** The failure rules decide; the transition below only carries the decision out. */
function failed(ctx: MachineContext, state: Active, error: unknown): State {
  const { policy, blob, attempts: a, outcome } = ctx;
  const floor = Math.max(CHUNK_FLOOR, 'session' in state ? (state.session.minChunk ?? 0) : 0);
  const decision = classifyError(
    error,
    situation(a, policy, {
      authorized: ctx.client.registry.authorized,
      chunked: a.method === 'chunked',
      mayChunk: policy.mode === 'auto',
      blobSize: blob.size,
      // A grow is judged by the chunk size refused, not the length of a short last piece.
      chunkSize: state.name === 'patch' ? state.size : chunkOf(ctx, state),
      chunkFloor: floor,
      chunkCeiling: 'session' in state ? state.session.maxChunk || undefined : undefined,
      growsLeft: MAX_GROWS - a.grows,
      foreignLocation:
        'session' in state && !isSameHost(state.session.location, ctx.client.registry.apiHost),
      onOwnHost:
        ctx.client.registry.profile.locationsOnOwnHost &&
        'session' in state &&
        isSameHost(state.session.location, ctx.client.registry.apiHost),
      sessionAgeMs: 'session' in state ? ctx.clock.now() - state.session.openedAt : undefined,
      sessionLifetimeMs: ctx.client.registry.profile.sessionLifetimeMs,
    }),
    OP[state.name],
  );
  // A session lost after it took chunks may have expired: the host's profile learns its age.
  if (decision.cause === 'lost-session' && state.name === 'patch' && state.offset > 0)
    ctx.client.registry.profile.sessionLostAt(ctx.clock.now() - state.session.openedAt);
  a.decision = decision;
  if (
    BODY_REFUSED.has(decision.cause) ||
    decision.action === 'chunk' ||
    decision.action === 'shrink'
  ) {
    const body =
      state.name === 'put' ? blob.size : state.name === 'patch' ? chunkOf(ctx, state) : 0;
    if (body) a.refusedBody = Math.max(a.refusedBody ?? 0, body);
  }
  if (LANE[state.name] === 'upload' && error instanceof RegistryError)
    record(outcome, `${a.method} upload: ${error.message}`, error);
  return transition(ctx, state, decision, error);
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

/**
 * The transitions: from a state and the rules' decision to the next state. Every try again is
 * charged here, to the one budget, and nowhere else.
 */
function transition(ctx: MachineContext, state: Active, decision: Decision, error: unknown): State {
  const { blob, attempts: a, logger, clock, outcome } = ctx;
  const profile = ctx.client.registry.profile;
  const message = errorMessage(error);
  const fail = (d: Decision = decision): State =>
    leave(state, { name: 'failed', error, decision: d });
  const charge = (): boolean => a.budget.spend();
  switch (decision.action) {
    case 'retry': {
      if (!charge()) return fail({ ...decision, action: 'fail-blob' });
      a.retried++;
      const ms = waitFor(decision, a.retries++, clock, headersOf(error));
      const what = error instanceof RegistryError ? `${error.method} ${error.url}` : state.name;
      const why =
        error instanceof RegistryError
          ? error.status !== undefined
            ? `${error.status}`
            : (error.networkCode ?? 'error')
          : message;
      logger.info(`${what}: ${why}; trying again in ${(ms / 1000).toFixed(1)} s`);
      return { name: 'wait', ms, then: state };
    }
    case 'resume': {
      if (state.name !== 'patch' || !charge()) return fail({ ...decision, action: 'fail-blob' });
      a.retried++;
      const ms = waitFor(decision, a.retries++, clock, headersOf(error));
      const sent = state.offset + Math.min(state.size, blob.size - state.offset);
      logger.info(`${blob.digest}: ${message}; asking the registry where the upload stands`);
      return {
        name: 'wait',
        ms,
        then: { name: 'status', session: state.session, sent, size: state.size },
      };
    }
    case 'restart': {
      const stopped = ctx.stopped?.();
      // Stopped for another blob's reason: this blob failed for that same reason, not its own.
      if (stopped) return fail({ action: 'fail-blob', cause: stopped });
      if (a.restarts >= ctx.policy.retries || !charge())
        return fail({ ...decision, action: 'fail-blob' });
      a.restarts++;
      if (decision.cause === 'lost-session' || decision.cause === 'no-shared-secret')
        a.lostSessions++;
      const ms = waitFor(decision, a.retries++, clock, headersOf(error));
      logger.info(
        `${blob.digest}: upload failed (${message}); starting again in ${(ms / 1000).toFixed(1)} s`,
      );
      return leave(state, { name: 'wait', ms, then: { name: 'open' } });
    }
    case 'chunk':
      // One switch per blob, and never charged: the path said what it takes.
      profile.monolithicRefused(blob.size);
      a.method = 'chunked';
      a.switchedToChunks = true;
      logger.info(
        `${blob.digest}: the single-body upload failed (${message}); switching to chunks`,
      );
      return leave(state, { name: 'open' });
    case 'shrink': {
      if (state.name !== 'patch') return fail({ ...decision, action: 'fail-blob' });
      const length = Math.min(state.size, blob.size - state.offset);
      const floor = Math.max(CHUNK_FLOOR, state.session.minChunk ?? 0);
      profile.chunkRefusedAsTooLarge(length);
      a.shrinks++;
      const size = Math.max(floor, Math.floor(length / 2));
      logger.info(
        `${blob.digest}: a chunk of ${formatSize(length)} was refused as too large; chunks are now ${formatSize(size)}`,
      );
      return { ...state, size };
    }
    case 'grow': {
      // Parts already stored are too small for this registry (ECR checks each part when the next
      // comes): a new session with larger chunks. The size refused is the chunk size, not the
      // length of a short last piece.
      const size = state.name === 'patch' ? state.size : chunkOf(ctx, state);
      profile.chunkRefusedAsTooSmall(size);
      a.grows++;
      logger.info(
        `${blob.digest}: chunks of ${formatSize(size)} were refused as too small; starting again with ${formatSize(profile.chunkSize(ctx.policy.chunkSize))}`,
      );
      return leave(state, { name: 'open' });
    }
    case 'plain-upload': {
      if (ctx.mountOnly) return fail({ action: 'fail-push', cause: 'input' });
      const refusedFrom = ctx.client.registry.profile.mountsRefusedFrom;
      // The mount itself was refused (no pull access, another project, a token service refusing
      // the source's scope): not a 202, which only says the source lacks this blob.
      if (state.name === 'mount' && ctx.mountFrom && !refusedFrom.has(ctx.mountFrom)) {
        // Said once per source, never a failure: the blobs are uploaded instead.
        refusedFrom.add(ctx.mountFrom);
        ctx.client.registry.observations.mountsRefusedFrom.push(ctx.mountFrom);
        logger.warning(
          `${ctx.client.registry.name}: mounting from ${ctx.mountFrom} was refused (${message}); blobs are uploaded instead`,
        );
      }
      record(
        outcome,
        state.name === 'mount-verify'
          ? `mount from ${ctx.mountFrom} acknowledged, then HEAD: ${message}`
          : `mount from ${ctx.mountFrom} refused (${message}); uploading instead`,
      );
      return { name: 'open' };
    }
    case 'lag':
      a.lagHeads++;
      return { name: 'wait', ms: backoffDelay(a.lagHeads - 1, clock), then: { name: 'verify' } };
    case 'reupload': {
      outcome.vanishedAfterAck ||= decision.cause === 'vanished-after-ack';
      record(
        outcome,
        `upload ${a.reuploads + 1} acknowledged (201), then HEAD: ${message}`,
        error instanceof RegistryError ? error : undefined,
      );
      if (!charge()) return fail({ ...decision, action: 'fail-blob' });
      a.reuploads++;
      a.lagHeads = 0;
      logger.info(`${blob.digest}: acknowledged but ${message}; uploading it again`);
      return { name: 'open' };
    }
    case 'own-host': {
      // Never charged, and once per session (its Location is then the registry's own): the Location
      // named a host the runner cannot reach, and the same path on the registry's own host is
      // tried (a proxy leaking its origin's address usually serves it). If that is no session
      // either, the rules end the push with this host named.
      if (!('session' in state)) return fail({ ...decision, action: 'fail-push' });
      const registry = ctx.client.registry;
      const from = state.session.location.host;
      registry.profile.locationsOnOwnHost = true;
      if (!registry.observations.locationMovedFrom) {
        registry.observations.locationMovedFrom = from;
        logger.warning(
          `${registry.name}: upload Locations name ${from}, which cannot be reached (${message}); sending them to ${registry.apiHost} instead`,
        );
      }
      const location = onOwnHost(state.session.location, registry.baseUrl);
      return { ...state, session: { ...state.session, location } } as State;
    }
    case 'fail-blob':
    case 'fail-push':
      if (state.name === 'verify')
        record(
          outcome,
          `upload ${a.reuploads + 1} acknowledged (201), then HEAD: ${message}`,
          error instanceof RegistryError ? error : undefined,
        );
      if (decision.cause === 'body-limit-at-floor') a.refusedBytes = chunkOf(ctx, state);
      return fail();
  }
}
