import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import type { BlobFile } from '../../src/oci/image.js';
import { RepositoryClient } from '../../src/registry/client.js';
import { Registry } from '../../src/registry/registry.js';
import { pushBlob } from '../../src/transfer/blob.js';
import type { BlobOutcome } from '../../src/transfer/outcome.js';
import { type TransferPolicy, type UploadMode, transferPolicy } from '../../src/transfer/policy.js';
import { silentLogger } from '../../src/util/logger.js';
import { seededRandom } from '../support/fault-proxy.js';
import {
  type FaultKind,
  SIM_HOST,
  type Schedule,
  SimRegistry,
  virtualClock,
} from '../support/sim-registry.js';

// The transfer machine against thousands of seeded fault schedules, on a virtual clock: every
// promise the docs make, checked on each, and the cause reported must be the cause injected.
// SIM_SEED=N runs one seed; SIM_RUNS=N changes how many.
const RUNS = Number(process.env.SIM_RUNS ?? 2000);
const ONLY = process.env.SIM_SEED === undefined ? undefined : Number(process.env.SIM_SEED);
const KiB = 1 << 10;

let dir: string;
const files = new Map<number, BlobFile>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oci-push-sim-'));
  for (const size of [3 * KiB, 150 * KiB, 300 * KiB]) {
    const data = Buffer.alloc(size);
    const random = seededRandom(size);
    for (let i = 0; i < size; i++) data[i] = Math.floor(random() * 256);
    const path = join(dir, `blob-${size}`);
    await writeFile(path, data);
    files.set(size, { digest: digestOf(data), size, mediaType: 'application/octet-stream', path });
  }
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** What a schedule makes of the blob when it never lets up: the cause the summary must show. */
const CAUSE_FOREVER: Partial<Record<FaultKind, string[]>> = {
  'status-500': ['storage-error'],
  'status-503': ['storage-error'],
  'status-429': ['rate-limited'],
  'status-524': ['proxy-timeout'],
  stall: ['registry-stalled'],
  refused: ['connection-refused'],
  'reset-body': ['connection-reset'],
  'lost-session': ['no-shared-secret', 'lost-session'],
  'lost-blob': ['vanished-after-ack'],
  'body-cap': ['body-limit-at-floor', 'nginx-body-limit'],
};

/** Faults whose failures the budget pays for; the others have bounds of their own. */
const CHARGED = new Set<FaultKind>([
  'status-500',
  'status-503',
  'status-429',
  'status-524',
  'stall',
  'refused',
  'reset-body',
  'lost-session',
  'expiring-session',
  'lost-blob',
]);

interface Case {
  seed: number;
  schedule: Schedule;
  mode: UploadMode;
  retries: number;
  size: number;
}

function caseOf(seed: number): Case {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const kind = pick<FaultKind>([
    'none',
    'status-500',
    'status-503',
    'status-429',
    'status-524',
    'reset-body',
    'stall',
    'refused',
    'lost-session',
    'expiring-session',
    'replica-lag',
    'lost-blob',
    'body-cap',
    'chunk-min',
    'relative-location',
  ]);
  const rate = pick([1, 1, 0.1, 0.3, 0.5]);
  const size = pick([3 * KiB, 150 * KiB, 300 * KiB]);
  const schedule: Schedule = { kind, rate };
  if (kind === 'body-cap') schedule.limit = pick([10 * KiB, 100 * KiB, 200 * KiB]);
  if (kind === 'chunk-min') schedule.limit = pick([100 * KiB, 128 * KiB]);
  if (kind === 'replica-lag') schedule.lag = pick([1, 2, 3, 5]);
  if (kind === 'expiring-session') schedule.limit = pick([5_000, 7_000]);
  return {
    seed,
    schedule,
    size,
    mode: pick(['auto', 'monolithic', 'chunked']),
    retries: pick([0, 1, 2, 5]),
  };
}

function describeCase(c: Case): string {
  return `seed ${c.seed}: ${c.schedule.kind} at ${c.schedule.rate}${c.schedule.limit ? ` limit ${c.schedule.limit}` : ''}${c.schedule.lag ? ` lag ${c.schedule.lag}` : ''}, ${c.mode}, retries ${c.retries}, ${c.size} bytes (SIM_SEED=${c.seed} npx vitest run test/transfer/simulation.test.ts)`;
}

async function simulate(c: Case): Promise<{
  outcome: BlobOutcome | undefined;
  sim: SimRegistry;
  elapsed: number;
  policy: TransferPolicy;
}> {
  const { clock, advance } = virtualClock(c.seed);
  const sim = new SimRegistry(c.schedule, c.seed, advance, clock.now);
  const policy = transferPolicy({
    mode: c.mode,
    chunkSize: 64 * KiB,
    retries: c.retries,
    concurrency: 1,
  });
  const registry = new Registry({
    name: SIM_HOST,
    apiHost: SIM_HOST,
    insecure: false,
    retries: c.retries,
    clock,
    logger: silentLogger,
    base: sim.transport(),
    pinged: { baseUrl: new URL(`https://${SIM_HOST}`) },
  });
  const client = new RepositoryClient(registry, 'sim/repo');
  const blob = files.get(c.size)!;
  const outcome = await pushBlob({ client, policy, clock, logger: silentLogger }, blob);
  return { outcome, sim, elapsed: clock.now(), policy };
}

type Run = Awaited<ReturnType<typeof simulate>>;
type Property = (c: Case, run: Run & { outcome: BlobOutcome }) => string | undefined;

/** It ends, in bounded time and requests, and every step it took is an edge of the machine. */
const ends: Property = (_c, { outcome, sim, elapsed }) => {
  if (/has no edge/.test(outcome.error?.message ?? '')) return outcome.error!.message;
  if (sim.log.length > 400) return `${sim.log.length} requests`;
  if (elapsed > 60 * 60_000) return `${Math.round(elapsed / 1000)} s of virtual time`;
  return undefined;
};

/** Pushed means the registry holds exactly these bytes. */
const truthful: Property = (c, { outcome, sim }) => {
  if (outcome.state === 'failed') return undefined;
  const blob = files.get(c.size)!;
  const held = sim.blobs.get(blob.digest);
  if (!held || held.length !== blob.size)
    return `reported ${outcome.state}, registry holds ${held?.length ?? 'nothing'}`;
  return undefined;
};

/**
 * retries: N. A failed request is tried again only while the budget lasts: charged failures
 * followed by another try are at most N, and N more after each chunk that went through. A
 * session's DELETE is cleanup, never tried again; in auto mode one refused single body is the
 * switch to chunks, which the path decided and the budget does not pay for. And it does try again:
 * a transient failure is never the end while the budget lasts.
 */
const budgeted: Property = (c, { outcome, sim }) => {
  if (!CHARGED.has(c.schedule.kind)) return undefined;
  const injected = sim.log.filter((r) => r.injected && r.method !== 'DELETE');
  // A lost blob's 404s are first lag HEADs (their own bound); only its uploads again are charged.
  const triedAgain =
    c.schedule.kind === 'lost-blob'
      ? sim.log.filter((r) => r.method === 'POST').length - 1
      : outcome.state === 'failed'
        ? injected.length - 1
        : injected.length;
  const patches = sim.log.filter((r) => r.method === 'PATCH' && r.status === 202).length;
  // Only a blob larger than a chunk switches; a smaller one starts again instead (charged).
  const switched = c.mode === 'auto' && c.size > 64 * KiB ? 1 : 0;
  const allowed = c.retries * (1 + patches) + switched;
  if (triedAgain > allowed) return `${triedAgain} tries again, at most ${allowed} allowed`;
  if (c.retries === 0 && outcome.state === 'failed' && triedAgain > switched)
    return `retries 0, yet ${injected.length} failed requests`;
  if (c.retries >= 1 && c.schedule.rate >= 1 && outcome.state === 'failed' && triedAgain < 1)
    return `retries ${c.retries}, yet no try again after ${injected.length} failure(s)`;
  // (Expiring sessions ignore the rate: their sessions always expire.)
  if (
    c.retries >= 5 &&
    c.schedule.rate <= 0.1 &&
    c.schedule.kind !== 'expiring-session' &&
    outcome.state === 'failed'
  )
    return `1 request in 10 failing, retries ${c.retries}, yet ${outcome.cause}`;
  return undefined;
};

/**
 * Sessions: the first, `retries` new ones after failures (never refilled by progress), the
 * re-uploads, one switch to chunks, and the grows a chunk window asks for.
 */
const fewSessions: Property = (c, { sim, policy }) => {
  const posts = sim.log.filter((r) => r.method === 'POST').length;
  const sessions = 1 + c.retries + policy.reuploads + 1 + (c.schedule.kind === 'chunk-min' ? 8 : 0);
  return posts > sessions ? `${posts} upload sessions, at most ${sessions}` : undefined;
};

/** Replica lag up to verifyLagRetries HEADs is waited out, never uploaded again. */
const lagWaited: Property = (c, { outcome, sim, policy }) => {
  if (c.schedule.kind !== 'replica-lag' || (c.schedule.lag ?? 0) > policy.verifyLagRetries)
    return undefined;
  if (outcome.state !== 'pushed')
    return `lag of ${c.schedule.lag} not waited out: ${outcome.state} ${outcome.cause}`;
  if (sim.log.filter((r) => r.method === 'POST').length !== 1) return 'uploaded again for a lag';
  return undefined;
};

/** A schedule that never lets up fails with the cause injected; chunks under a cap get through. */
const namedRightly: Property = (c, { outcome }) => {
  const forever = CAUSE_FOREVER[c.schedule.kind];
  if (c.schedule.rate < 1 || !forever) return undefined;
  if (c.schedule.kind === 'body-cap' && (c.schedule.limit ?? 0) >= c.size) return undefined;
  if (
    c.schedule.kind === 'body-cap' &&
    c.mode !== 'monolithic' &&
    (c.schedule.limit ?? 0) >= 64 * KiB
  )
    return outcome.state !== 'pushed'
      ? `chunks fit under the cap, yet ${outcome.state} (${outcome.cause})`
      : undefined;
  if (outcome.state !== 'failed') return `${c.schedule.kind} forever, yet ${outcome.state}`;
  if (!forever.includes(outcome.cause ?? ''))
    return `cause ${outcome.cause}, injected ${c.schedule.kind} (${forever.join(' or ')})`;
  // A session lost again and again is replicas without a shared secret, from the second loss.
  if (c.schedule.kind === 'lost-session' && c.retries >= 1 && outcome.cause !== 'no-shared-secret')
    return `sessions lost ${c.retries + 1} times, yet the cause is ${outcome.cause}`;
  return undefined;
};

/**
 * Sessions that expire before a chunked upload ends: named as such (or, the first time, as lost),
 * never as replicas without a shared secret; faster uploads get through.
 */
const expiryNamed: Property = (c, { outcome }) => {
  if (c.schedule.kind !== 'expiring-session' || c.mode !== 'chunked') return undefined;
  const takes = (c.size / 32_768) * 1000;
  if (takes > (c.schedule.limit ?? 0) * 1.1 && outcome.state === 'pushed')
    return `a ${Math.round(takes)} ms upload outlived a ${c.schedule.limit} ms session`;
  if (
    outcome.state === 'failed' &&
    !['session-expired', 'lost-session'].includes(outcome.cause ?? '')
  )
    return `expiring sessions reported as ${outcome.cause}`;
  return undefined;
};

/** No faults, or faults that only cost time: the blob gets through. */
const harmless: Property = (c, { outcome }) =>
  ['none', 'relative-location', 'chunk-min'].includes(c.schedule.kind) && outcome.state !== 'pushed'
    ? `${c.schedule.kind}: ${outcome.state} (${outcome.cause}: ${outcome.error?.message})`
    : undefined;

/** Every promise the machine makes, as properties of one schedule's run. */
const PROPERTIES: Property[] = [
  ends,
  truthful,
  budgeted,
  fewSessions,
  lagWaited,
  namedRightly,
  expiryNamed,
  harmless,
];

/** What broke for one schedule, or undefined. */
function broken(c: Case, run: Run): string | undefined {
  if (!run.outcome) return 'no outcome for a blob that was never stopped';
  const ran = { ...run, outcome: run.outcome };
  for (const property of PROPERTIES) {
    const why = property(c, ran);
    if (why) return why;
  }
  return undefined;
}

describe('the transfer machine, simulated', () => {
  it(`keeps every promise over ${ONLY === undefined ? RUNS : 1} seeded fault schedules`, async () => {
    const seeds = ONLY === undefined ? Array.from({ length: RUNS }, (_, i) => i + 1) : [ONLY];
    const failures: string[] = [];
    const kinds = new Map<string, number>();
    for (const seed of seeds) {
      const c = caseOf(seed);
      kinds.set(c.schedule.kind, (kinds.get(c.schedule.kind) ?? 0) + 1);
      let why: string | undefined;
      try {
        why = broken(c, await simulate(c));
      } catch (error) {
        why = `threw ${(error as Error).stack}`;
      }
      if (why) failures.push(`${describeCase(c)}: ${why}`);
      if (failures.length >= 5) break;
    }
    expect(failures, failures.join('\n')).toEqual([]);
    if (ONLY === undefined) for (const n of kinds.values()) expect(n).toBeGreaterThan(RUNS / 30);
  }, 60_000);
});
