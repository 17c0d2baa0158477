import type { RegistryError } from '../registry/errors.js';
import type { Method } from './attempts.js';
import type { ChunkReason } from './outcome.js';
import type { MachineContext, State } from './blob-state.js';

/**
 * What one step or one move taught about the blob, the upload or the host. Steps and moves only
 * read; the loop applies what they return here, in `apply`, and nothing else writes the blob's
 * record or the host's profile.
 */
export type Learned =
  /** The request succeeded: the quick-retry schedule starts over. */
  | { fact: 'answered' }
  | { fact: 'session-opened'; method: Method }
  | { fact: 'body-sent' }
  /** A chunk of `size` went through, `length` bytes of it (less for the last piece). */
  | { fact: 'chunk-sent'; size: number; length: number }
  | { fact: 'resumed' }
  | { fact: 'verified' }
  /** The registry refused the digest and the local file hashes to it. */
  | { fact: 'file-intact' }
  /** A try again, paid from the budget; `resend` when it is the same request. */
  | { fact: 'charged'; resend: boolean }
  /** A wait before a try again: the next backoff is longer. */
  | { fact: 'waited' }
  | { fact: 'restarted'; lostSession: boolean }
  | { fact: 'switched-to-chunks'; refused: number; because: ChunkReason }
  | { fact: 'body-refused'; size: number }
  | { fact: 'chunk-too-large'; size: number }
  | { fact: 'refused-at-floor'; size: number }
  | { fact: 'chunk-too-small'; size: number }
  | { fact: 'lag-head' }
  | { fact: 'reuploaded' }
  | { fact: 'vanished-after-ack' }
  | { fact: 'session-lost-at'; ageMs: number }
  | { fact: 'mount-refused'; from: string }
  | { fact: 'location-moved'; from: string }
  | { fact: 'tried'; line: string; error?: RegistryError };

/** Where the machine goes next, and what it learned on the way. */
export interface Next {
  state: State;
  learned: readonly Learned[];
}

export const go = (state: State, ...learned: Learned[]): Next => ({ state, learned });

type Fact = Learned['fact'];
type Apply<F extends Fact> = (ctx: MachineContext, l: Extract<Learned, { fact: F }>) => void;

/** What each fact changes: the only writes to a blob's record and its host's profile. */
const APPLY: { [F in Fact]: Apply<F> } = {
  answered: ({ attempts: a }) => void (a.retries = 0),
  'session-opened': ({ attempts: a }, l) => {
    a.sessions++;
    a.resumed = false;
    a.chunks = 0;
    a.method = l.method;
  },
  'body-sent': ({ attempts: a }) => void (a.chunks = 1),
  'chunk-sent': ({ attempts: a, client }, l) => {
    a.chunks++;
    a.chunkBytes = l.size;
    if (l.length === l.size) client.registry.profile.chunkWentThrough(l.size);
    // The upload moved forward: failures before it say nothing about the next ones.
    a.budget.refill();
  },
  resumed: ({ attempts: a }) => void (a.resumed = true),
  verified: (ctx) => {
    const a = ctx.attempts;
    // Only the HEADs asked again before a verification that found the blob were replica lag;
    // those before a re-upload were the registry losing it.
    a.lagTotal += a.lagHeads;
    ctx.proof?.accepted(ctx.blob.digest);
  },
  'file-intact': ({ attempts: a }) => void (a.fileChecked = true),
  charged: ({ attempts: a }, l) => {
    a.budget.spend();
    if (l.resend) a.retried++;
  },
  waited: ({ attempts: a }) => void a.retries++,
  restarted: ({ attempts: a }, l) => {
    a.restarts++;
    if (l.lostSession) a.lostSessions++;
  },
  'switched-to-chunks': ({ attempts: a, client }, l) => {
    client.registry.profile.monolithicRefused(l.refused);
    a.largestRefused = Math.max(a.largestRefused ?? 0, l.refused);
    a.method = 'chunked';
    a.chunkedBecause = l.because;
  },
  'body-refused': ({ attempts: a }, l) => {
    a.largestRefused = Math.max(a.largestRefused ?? 0, l.size);
  },
  'chunk-too-large': ({ attempts: a, client }, l) => {
    client.registry.profile.chunkRefusedAsTooLarge(l.size);
    a.shrinks++;
  },
  'refused-at-floor': ({ attempts: a }, l) => void (a.smallestRefused = l.size),
  'chunk-too-small': ({ attempts: a, client }, l) => {
    client.registry.profile.chunkRefusedAsTooSmall(l.size);
    a.grows++;
  },
  'lag-head': ({ attempts: a }) => void a.lagHeads++,
  reuploaded: ({ attempts: a }) => {
    a.reuploads++;
    a.lagHeads = 0;
  },
  'vanished-after-ack': ({ outcome }) => void (outcome.vanishedAfterAck = true),
  'session-lost-at': ({ client }, l) => client.registry.profile.sessionLostAt(l.ageMs),
  'mount-refused': ({ client }, l) => {
    const registry = client.registry;
    // Said once per source, never a failure: the report warns from the observation.
    if (!registry.profile.mountsRefusedFrom.has(l.from))
      registry.observations.mountsRefusedFrom.push(l.from);
    registry.profile.mountsRefusedFrom.add(l.from);
  },
  'location-moved': ({ client }, l) => {
    client.registry.profile.locationsOnOwnHost = true;
    client.registry.observations.locationMovedFrom ??= l.from;
  },
  tried: ({ outcome }, l) => {
    outcome.tried.push(l.line);
    if (l.error && !outcome.errors.includes(l.error)) outcome.errors.push(l.error);
  },
};

/** The one place a blob's record and its host's profile change, in the order things were learned. */
export function apply(ctx: MachineContext, learned: readonly Learned[]): void {
  for (const l of learned) (APPLY[l.fact] as Apply<Fact>)(ctx, l as never);
}
