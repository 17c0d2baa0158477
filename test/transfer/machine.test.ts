import { describe, expect, it } from 'vitest';
import { RepositoryClient } from '../../src/registry/client.js';
import { RegistryError } from '../../src/registry/errors.js';
import type { CauseId, Fault, FaultKind } from '../../src/registry/failure.js';
import { Registry } from '../../src/registry/registry.js';
import { QUICK_RETRIES } from '../../src/registry/retry.js';
import { newAttempts } from '../../src/transfer/attempts.js';
import type { Active, MachineContext, Session, State } from '../../src/transfer/blob-state.js';
import { apply } from '../../src/transfer/learned.js';
import { MACHINE, afterFault } from '../../src/transfer/machine.js';
import { newBlobOutcome } from '../../src/transfer/outcome.js';
import { type UploadMode, transferPolicy } from '../../src/transfer/policy.js';
import { silentLogger } from '../../src/util/logger.js';
import { SIM_HOST, virtualClock } from '../support/sim-registry.js';

// Each row of the blob's machine, one failure at a time: from a state, a fault of a kind leads to
// the state the row names, or ends the blob with the cause it says. No request is sent.
const KiB = 1 << 10;
const CHUNK = 64 * KiB;

interface Setup {
  mode?: UploadMode;
  retries?: number;
  size?: number;
  /** The state, changed: a chunk at the floor. */
  at?: Partial<Active>;
  /** Changes the context before the fault: counters already spent, a host that lost sessions. */
  before?: (ctx: MachineContext) => void;
}

function contextFor(setup: Setup = {}): MachineContext {
  const { clock } = virtualClock(1);
  const retries = setup.retries ?? 3;
  const policy = transferPolicy({
    mode: setup.mode ?? 'auto',
    chunkSize: CHUNK,
    retries,
    concurrency: 1,
  });
  const registry = new Registry({
    name: SIM_HOST,
    apiHost: SIM_HOST,
    insecure: false,
    retries,
    clock,
    logger: silentLogger,
    base: (() => Promise.reject(new Error('no request is sent in these tests'))) as never,
    pinged: { baseUrl: new URL(`https://${SIM_HOST}`) },
  });
  const blob = {
    digest: `sha256:${'a'.repeat(64)}`,
    size: setup.size ?? 1024 * KiB,
    mediaType: 'x',
    path: '/none',
  };
  const ctx: MachineContext = {
    client: new RepositoryClient(registry, 'sim/repo'),
    policy,
    clock,
    logger: silentLogger,
    blob,
    attempts: newAttempts(policy),
    outcome: newBlobOutcome(blob),
    mountFrom: 'other/repo',
    uploads: Object.assign(async <T>(fn: () => Promise<T>) => fn(), {
      acquire: async () => () => undefined,
    }) as unknown as MachineContext['uploads'],
    checks: (async <T>(fn: () => Promise<T>) => fn()) as unknown as MachineContext['checks'],
  };
  setup.before?.(ctx);
  return ctx;
}

const session = (host = SIM_HOST): Session => ({
  location: new URL(`https://${host}/v2/sim/repo/blobs/uploads/1`),
  openedAt: 0,
});

const STATES: { [N in Active['name']]: Extract<Active, { name: N }> } = {
  check: { name: 'check' },
  mount: { name: 'mount' },
  'mount-verify': { name: 'mount-verify' },
  open: { name: 'open' },
  put: { name: 'put', session: session() },
  patch: { name: 'patch', session: session(), offset: CHUNK, size: 4 * CHUNK },
  status: { name: 'status', session: session(), sent: 2 * CHUNK, size: CHUNK },
  commit: { name: 'commit', session: session() },
  cancel: { name: 'cancel', session: session(), then: { name: 'verify' } },
  verify: { name: 'verify' },
  vanished: {
    name: 'vanished',
    error: new RegistryError({ method: 'PUT', op: 'manifest', url: 'https://r/', status: 400 }),
  },
};

/** Where a state leads, through the session's DELETE and the wait: `open`, or `failed: cause (push)`. */
function landing(state: State): string {
  if (state.name === 'cancel' || state.name === 'wait') return landing(state.then);
  if (state.name === 'failed')
    return `failed: ${state.decision.cause}${state.decision.action === 'fail-push' ? ' (push)' : ''}`;
  return state.name;
}

const CAUSE: Record<FaultKind, CauseId> = {
  transient: 'storage-error',
  'body-cut': 'connection-reset',
  'body-too-large': 'nginx-body-limit',
  'chunk-window': 'chunk-window',
  'range-mismatch': 'lost-session',
  'session-gone': 'lost-session',
  'digest-refused': 'bytes-changed',
  vanished: 'vanished-after-ack',
  'mount-refused': 'mount-refused',
  'single-body-refused': 'unknown',
  'location-unreachable': 'location-unreachable',
  auth: 'credentials',
  final: 'unknown',
  fatal: 'read-only',
};

function run(name: Active['name'], kind: FaultKind, setup: Setup = {}, fault: Partial<Fault> = {}) {
  const ctx = contextFor(setup);
  const before = JSON.stringify(ctx.attempts);
  const state = { ...STATES[name], ...setup.at } as Active;
  const error = new RegistryError({
    method: 'GET',
    op: MACHINE[name].op,
    url: 'https://r/',
    status: 500,
  });
  const { state: next, learned } = afterFault({
    ctx,
    state,
    error,
    fault: { kind, cause: CAUSE[kind], ...fault },
  });
  // The move only reads: what it learned changes the record when the loop applies it.
  expect(JSON.stringify(ctx.attempts)).toBe(before);
  apply(ctx, learned);
  return { ctx, next, learned, landing: landing(next) };
}

type Row = [
  Active['name'],
  FaultKind,
  string,
  Setup?,
  ((ctx: MachineContext, next: State) => void)?,
];

const spentBudget = (ctx: MachineContext): void => {
  while (ctx.attempts.budget.spend());
};

// [state, fault kind, where it leads, the context, what else must hold]
const ROWS: Row[] = [
  // Every state: a transient fault sends the same request again; others end the blob or the push.
  ['check', 'transient', 'check', {}, (ctx) => expect(ctx.attempts.retried).toBe(1)],
  ['check', 'transient', 'failed: storage-error', { before: spentBudget }],
  ['check', 'final', 'failed: unknown'],
  ['check', 'fatal', 'failed: read-only (push)'],
  ['check', 'auth', 'failed: credentials (push)'],
  ['open', 'transient', 'open'],
  ['verify', 'transient', 'verify'],
  // A mount refused, or not reading back: the blob is uploaded instead, and the source not asked again.
  [
    'mount',
    'mount-refused',
    'open',
    {},
    (ctx) => expect(ctx.client.registry.profile.mountsRefusedFrom.has('other/repo')).toBe(true),
  ],
  ['mount', 'mount-refused', 'failed: input (push)', { before: (ctx) => (ctx.mountOnly = true) }],
  ['mount-verify', 'mount-refused', 'open'],
  // One body.
  ['put', 'transient', 'open', {}, (ctx) => expect(ctx.attempts.restarts).toBe(1)],
  ['put', 'transient', 'failed: storage-error', { retries: 0 }],
  ['put', 'body-cut', 'open', {}, (ctx) => expect(ctx.attempts.method).toBe('chunked')],
  [
    'put',
    'body-cut',
    'open',
    { size: CHUNK / 2 },
    (ctx) => expect([ctx.attempts.method, ctx.attempts.restarts]).toEqual(['monolithic', 1]),
  ],
  [
    'put',
    'body-too-large',
    'open',
    {},
    (ctx) => expect(ctx.attempts.chunkedBecause).toBe('body-too-large'),
  ],
  ['put', 'body-too-large', 'failed: nginx-body-limit', { mode: 'monolithic' }],
  ['put', 'single-body-refused', 'open', {}, (ctx) => expect(ctx.attempts.method).toBe('chunked')],
  ['put', 'single-body-refused', 'failed: unknown', { mode: 'monolithic' }],
  ['put', 'session-gone', 'open', {}, (ctx) => expect(ctx.attempts.lostSessions).toBe(1)],
  ['put', 'digest-refused', 'open', {}, (ctx) => expect(ctx.attempts.lostSessions).toBe(0)],
  [
    'put',
    'location-unreachable',
    'put',
    {},
    (ctx) => expect(ctx.client.registry.observations.locationMovedFrom).toBe(SIM_HOST),
  ],
  // Chunks.
  ['patch', 'transient', 'status'],
  ['patch', 'body-cut', 'status'],
  ['patch', 'range-mismatch', 'status'],
  ['patch', 'transient', 'failed: storage-error', { before: spentBudget }],
  [
    'patch',
    'body-too-large',
    'patch',
    {},
    (ctx, next) => {
      expect(next).toMatchObject({ name: 'patch', size: 2 * CHUNK });
      expect(ctx.attempts.shrinks).toBe(1);
    },
  ],
  [
    'patch',
    'body-too-large',
    'failed: body-limit-at-floor',
    { at: { size: CHUNK } },
    (ctx) => expect(ctx.attempts.smallestRefused).toBe(CHUNK),
  ],
  [
    'patch',
    'chunk-window',
    'open',
    {},
    (ctx) => expect(ctx.client.registry.profile.chunkTooSmall).toBe(4 * CHUNK),
  ],
  [
    'patch',
    'chunk-window',
    'failed: chunk-window',
    { before: (ctx) => void (ctx.attempts.grows = 8) },
  ],
  ['patch', 'session-gone', 'open', {}, (ctx) => expect(ctx.attempts.lostSessions).toBe(1)],
  [
    'patch',
    'session-gone',
    'failed: no-shared-secret (push)',
    { before: (ctx) => void (ctx.attempts.lostSessions = 2) },
  ],
  [
    'patch',
    'session-gone',
    'open',
    {
      before: (ctx) => {
        ctx.client.registry.profile.sessionLifetimeMs = 0;
        ctx.attempts.lostSessions = 2;
      },
    },
    (ctx) => expect(ctx.attempts.lostSessions).toBe(2),
  ],
  ['patch', 'location-unreachable', 'patch'],
  // The session's status, its commit.
  ['status', 'transient', 'status'],
  ['status', 'session-gone', 'open'],
  ['status', 'location-unreachable', 'status'],
  ['commit', 'transient', 'commit'],
  ['commit', 'session-gone', 'open'],
  ['commit', 'location-unreachable', 'commit'],
  ['commit', 'digest-refused', 'open', {}, (ctx) => expect(ctx.attempts.lostSessions).toBe(0)],
  [
    'commit',
    'digest-refused',
    'open',
    { before: (ctx) => void (ctx.attempts.resumed = true) },
    (ctx) => expect(ctx.attempts.lostSessions).toBe(1),
  ],
  // Read back.
  ['verify', 'vanished', 'verify', {}, (ctx) => expect(ctx.attempts.lagHeads).toBe(1)],
  [
    'verify',
    'vanished',
    'open',
    { before: (ctx) => void (ctx.attempts.lagHeads = ctx.policy.verifyLagRetries) },
    (ctx) => expect(ctx.attempts.reuploads).toBe(1),
  ],
  [
    'verify',
    'vanished',
    'failed: vanished-after-ack',
    {
      before: (ctx) => {
        ctx.attempts.lagHeads = ctx.policy.verifyLagRetries;
        ctx.attempts.reuploads = ctx.policy.reuploads;
      },
    },
  ],
  ['vanished', 'vanished', 'open', {}, (ctx) => expect(ctx.outcome.vanishedAfterAck).toBe(true)],
  ['vanished', 'vanished', 'failed: vanished-after-ack', { before: spentBudget }],
];

describe("the blob's machine, row by row", () => {
  it.each(ROWS)('%s, %s → %s', (name, kind, to, setup, check) => {
    const { ctx, next, landing: got } = run(name, kind, setup);
    expect(got).toBe(to);
    check?.(ctx, next);
  });

  it('has a row test for every fault a state routes', () => {
    const tested = new Set(ROWS.map(([name, kind]) => `${name} ${kind}`));
    for (const [name, row] of Object.entries(MACHINE))
      for (const kind of Object.keys(row.faults)) expect(tested).toContain(`${name} ${kind}`);
  });

  it('a quick retry stops at its own count, whatever the budget', () => {
    const before = (ctx: MachineContext): void => void (ctx.attempts.retries = QUICK_RETRIES);
    expect(
      run('check', 'transient', { before }, { quick: true, cause: 'connection-refused' }).landing,
    ).toBe('failed: connection-refused');
    expect(
      run('check', 'transient', {}, { quick: true, cause: 'connection-refused' }).landing,
    ).toBe('check');
  });

  it('a fault no row names ends the blob from any state; auth and fatal end the push', () => {
    for (const name of Object.keys(STATES) as Active['name'][]) {
      if (name === 'cancel') continue;
      expect(run(name, 'final').landing).toBe('failed: unknown');
      expect(run(name, 'fatal').landing).toBe('failed: read-only (push)');
    }
  });
});
