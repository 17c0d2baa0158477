import { RegistryError } from '../registry/errors.js';
import { type CauseId, type FaultKind, type Op, type Sent, faultOf } from '../registry/failure.js';
import { isSameHost } from '../registry/reference.js';
import type { Active, MachineContext, State, Terminal } from './blob-state.js';
import { isEdge } from './machine-edges.js';
import { uploadShares } from './policy.js';
import {
  askStatus,
  cancel,
  checkExists,
  commit,
  explained,
  mountFrom,
  openSession,
  putBody,
  sendChunk,
  type StateOf,
  vanished,
  verifyMount,
  verifyUpload,
} from './steps.js';
import { type Learned, type Next, apply, go } from './learned.js';
import { type Action, TRANSITIONS, type Turn, chunkOf, end, tried } from './transitions.js';

type Step<N extends Active['name']> = (ctx: MachineContext, state: StateOf<N>) => Promise<Next>;

/** Where a fault leads from one state: the actions tried in order; after the last, the blob fails. */
type Routes = Partial<Record<FaultKind, readonly Action[]>>;

/** One state of a blob's life: where it waits, what it sends, and where each answer leads. */
interface Row<N extends Active['name']> {
  /**
   * Where it waits for a place. Checks move no bytes and run wide; a session's requests share the
   * one upload place the blob holds from `open` to `commit`, so `concurrency` bodies are in flight at
   * most. No place is held while waiting.
   */
  lane: 'checks' | 'upload';
  /** The request, as the failure rules name it. */
  op: Op;
  /** The request sent, and where its success leads. */
  step: Step<N>;
  /** Where each fault leads, besides `EVERY_STATE`. */
  faults: Routes;
}

/**
 * In every state, unless its row says otherwise: a transient fault sends the request again; any
 * other fault ends the blob, and an `auth` or `fatal` one the push.
 */
const EVERY_STATE: Routes = { transient: ['retry'] };

/** An upload Location the runner cannot reach: the same path on the registry's own host. */
const SESSION_FAULTS: Routes = {
  'session-gone': ['new-session'],
  'location-unreachable': ['own-host'],
};

/** The blob's machine, one row a state. `wait`, `done`, `failed` and `never-started` send nothing. */
export const MACHINE: { readonly [N in Active['name']]: Row<N> } = {
  check: { lane: 'checks', op: 'exists', step: checkExists, faults: {} },
  mount: {
    lane: 'checks',
    op: 'mount',
    step: mountFrom,
    faults: { 'mount-refused': ['plain-upload'] },
  },
  'mount-verify': {
    lane: 'checks',
    op: 'mount-verify',
    step: verifyMount,
    faults: { 'mount-refused': ['plain-upload'] },
  },
  open: { lane: 'upload', op: 'open', step: openSession, faults: {} },
  put: {
    lane: 'upload',
    op: 'put-blob',
    step: putBody,
    faults: {
      ...SESSION_FAULTS,
      transient: ['restart'],
      'body-cut': ['chunk', 'restart'],
      'body-too-large': ['chunk'],
      'single-body-refused': ['chunk'],
      'digest-refused': ['restart'],
    },
  },
  patch: {
    lane: 'upload',
    op: 'patch',
    step: sendChunk,
    faults: {
      ...SESSION_FAULTS,
      transient: ['resume'],
      'body-cut': ['resume'],
      'body-too-large': ['shrink'],
      'chunk-window': ['grow'],
      'range-mismatch': ['resume'],
    },
  },
  status: { lane: 'upload', op: 'status', step: askStatus, faults: SESSION_FAULTS },
  commit: {
    lane: 'upload',
    op: 'commit',
    step: commit,
    faults: { ...SESSION_FAULTS, 'digest-refused': ['restart'] },
  },
  cancel: { lane: 'upload', op: 'cancel', step: cancel, faults: {} },
  verify: {
    lane: 'checks',
    op: 'verify',
    step: verifyUpload,
    faults: { vanished: ['lag', 'reupload'] },
  },
  vanished: { lane: 'checks', op: 'manifest', step: vanished, faults: { vanished: ['reupload'] } },
};

/** The actions a fault leads to from a state, in the order they are tried. */
export function routeOf(state: Active['name'], kind: FaultKind): readonly Action[] {
  return MACHINE[state].faults[kind] ?? EVERY_STATE[kind] ?? [];
}

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
      const next =
        MACHINE[current.name].lane === 'upload'
          ? await inUploadPlace(ctx, current, place)
          : await inChecksLane(ctx, current, place);
      apply(ctx, next.learned);
      state = edge(current, next.state);
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
async function inUploadPlace(ctx: MachineContext, current: Active, place: Place): Promise<Next> {
  if (!place.release) {
    place.release = await ctx.uploads.acquire({ weight: uploadShares(ctx.policy, ctx.blob.size) });
    // Another blob stopped the push while this one waited for its place.
    const stopped = ctx.stopped?.();
    if (stopped) {
      const a = ctx.attempts;
      if (current.name === 'open' && a.sessions === 0 && a.reuploads === 0)
        return go({ name: 'never-started' });
      return go(stoppedBy(stopped));
    }
  }
  return step(ctx, current);
}

/** A step that moves no bytes: it waits in the checks lane, verifications first. */
function inChecksLane(ctx: MachineContext, current: Active, place: Place): Promise<Next> {
  release(place);
  // A blob still waiting for its first check when the push stopped is left alone.
  return ctx.checks(
    async () =>
      current.name === 'check' && ctx.stopped?.()
        ? go({ name: 'never-started' })
        : step(ctx, current),
    { first: current.name === 'verify' },
  );
}

function stoppedBy(cause: CauseId): Terminal {
  const error = new Error(`stopped: another blob's failure (${cause}) ends the push`);
  return { name: 'failed', error, decision: { action: 'fail-blob', cause } };
}

/** One request, and the state it leads to; a failure goes to the rules. */
async function step(ctx: MachineContext, state: Active): Promise<Next> {
  try {
    const next = await (MACHINE[state.name].step as Step<typeof state.name>)(ctx, state as never);
    if (state.name === 'cancel') return next;
    return { state: next.state, learned: [...next.learned, { fact: 'answered' }] };
  } catch (thrown) {
    const { error, intact } = await explained(ctx, state, thrown);
    const next = failed(ctx, state, error);
    return intact ? { ...next, learned: [{ fact: 'file-intact' }, ...next.learned] } : next;
  }
}

/** The request as it was sent, for the rules: where it went and with what credentials. */
function sentBy(ctx: MachineContext, state: Active): Sent {
  const registry = ctx.client.registry;
  const credentials = registry.authorized ? 'accepted' : 'offered';
  const op = MACHINE[state.name].op;
  if (!('session' in state)) return { op, credentials };
  if (!isSameHost(state.session.location, registry.apiHost))
    return { op, credentials, location: 'foreign' };
  return { op, credentials, location: registry.profile.locationsOnOwnHost ? 'moved' : undefined };
}

/** What a failure itself taught, whatever the move after it: for the host's profile and the record. */
function lessons(t: Turn): Learned[] {
  const { ctx, state, fault, error } = t;
  const learned: Learned[] = [];
  // A session lost after it took chunks may have expired: the host's profile learns its age.
  const lost = fault.kind === 'session-gone' || fault.kind === 'range-mismatch';
  if (lost && state.name === 'patch' && state.offset > 0)
    learned.push({ fact: 'session-lost-at', ageMs: ctx.clock.now() - state.session.openedAt });
  const body =
    state.name === 'put' ? ctx.blob.size : state.name === 'patch' ? chunkOf(ctx, state) : 0;
  if (fault.kind === 'body-too-large' && body) learned.push({ fact: 'body-refused', size: body });
  if (MACHINE[state.name].lane === 'upload' && error instanceof RegistryError)
    learned.push(tried(`${ctx.attempts.method} upload: ${error.message}`, error));
  return learned;
}

/** The rules read the fault; the state's row says where it leads. */
function failed(ctx: MachineContext, state: Active, error: unknown): Next {
  const turn: Turn = { ctx, state, error, fault: faultOf(error, sentBy(ctx, state)) };
  const next = afterFault(turn);
  return { state: next.state, learned: [...lessons(turn), ...next.learned] };
}

/** The first move of the state's row for this fault that applies; after the last, the blob fails. */
export function afterFault(turn: Turn): Next {
  for (const action of routeOf(turn.state.name, turn.fault.kind)) {
    const next = TRANSITIONS[action](turn);
    if (next) return next;
  }
  return end(turn);
}
