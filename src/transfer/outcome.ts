import type { CauseId, FaultKind } from '../registry/failure.js';
import type { RegistryError } from '../registry/errors.js';

export type BlobHow = 'present' | 'mounted' | 'monolithic' | 'chunked';
/**
 * The faults that send a blob on from its single body in chunks: the path refused the body as too
 * large, the registry takes uploads only in chunks, or the connection broke while it was sent.
 */
export type ChunkReason = Extract<FaultKind, 'body-too-large' | 'single-body-refused' | 'body-cut'>;

export function isChunkReason(kind: FaultKind): kind is ChunkReason {
  return kind === 'body-too-large' || kind === 'single-body-refused' || kind === 'body-cut';
}
export type BlobState = 'pushed' | 'skipped' | 'failed';

/** Everything that happened to one blob in one repository, for the summary and the outputs. */
export interface BlobOutcome {
  digest: string;
  size: number;
  mediaType: string;
  how?: BlobHow;
  /** The repository the blob was mounted from, when it was. */
  mountedFrom?: string;
  chunks: number;
  /** Upload sessions started for this blob, across re-uploads. */
  attempts: number;
  durationMs: number;
  state: BlobState;
  /** One line per thing that went wrong or was tried, oldest first. */
  tried: string[];
  /** Every error the registry or the network gave for this blob, oldest first. */
  errors: RegistryError[];
  error?: Error;
  /** The probable cause of the failure, from the failure rules; set when the blob failed. */
  cause?: CauseId;
  /** The sizes the path refused as too large: the smallest (a chunk at the floor), the largest. */
  smallestRefused?: number;
  largestRefused?: number;
  /** What this blob got past on its way in, for the "Recovered" report. */
  recovered: Recovered;
  /** The registry acknowledged the upload and then answered 404 to HEAD. */
  vanishedAfterAck: boolean;
  /** The failure rules said no other blob can succeed either (a read-only registry, a 401). */
  stopsPush?: boolean;
}

/** What a blob got past: zero everywhere for a blob that went in at the first try. */
export interface Recovered {
  /** Uploads again after the registry lost the acknowledged blob. */
  reuploads: number;
  /** HEADs asked again while a replica caught up. */
  lagHeads: number;
  /** Upload sessions the registry lost. */
  lostSessions: number;
  /** Requests sent again after a network error, 5xx or 429. */
  retries: number;
  /** The single body of `largestRefused` bytes failed for this reason; chunks of `chunkBytes` went through. */
  chunkedBecause?: ChunkReason;
  largestRefused?: number;
  chunkBytes?: number;
}

export function newBlobOutcome(blob: {
  digest: string;
  size: number;
  mediaType: string;
}): BlobOutcome {
  return {
    digest: blob.digest,
    size: blob.size,
    mediaType: blob.mediaType,
    chunks: 0,
    attempts: 0,
    durationMs: 0,
    state: 'failed',
    tried: [],
    errors: [],
    recovered: { reuploads: 0, lagHeads: 0, lostSessions: 0, retries: 0 },
    vanishedAfterAck: false,
  };
}
