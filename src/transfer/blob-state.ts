import type { BlobFile } from '../oci/image.js';
import type { RepositoryClient } from '../registry/client.js';
import type { RegistryError } from '../registry/errors.js';
import type { CauseId } from '../registry/failure.js';
import type { Clock } from '../util/clock.js';
import type { Limiter } from '../util/concurrency.js';
import type { Logger } from '../util/logger.js';
import type { Attempts, Decision } from './attempts.js';
import type { LocalProof } from './local-proof.js';
import type { BlobHow, BlobOutcome } from './outcome.js';
import type { TransferPolicy } from './policy.js';

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

export type Active = Exclude<State, { name: 'wait' | 'done' | 'failed' | 'never-started' }>;

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

export type Terminal = Extract<State, { name: 'done' | 'failed' | 'never-started' }>;
