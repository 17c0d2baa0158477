import type { LoadedImage } from '../oci/image.js';
import type { CauseId } from '../registry/failure.js';
import { type ImageReference, formatReference } from '../registry/reference.js';
import type { RegistryObservations } from '../registry/registry.js';
import type { BlobOutcome } from '../transfer/outcome.js';

export type { BlobHow, BlobOutcome, BlobState } from '../transfer/outcome.js';

export type Phase = 'validate' | 'connect' | 'auth' | 'blobs' | 'manifests' | 'tags' | 'referrers';

export interface TargetResult {
  registry: string;
  apiHost: string;
  repository: string;
  /** Tags to set; empty for a push by digest only. */
  tags: string[];
  blobs: Map<string, BlobOutcome>;
  observations?: RegistryObservations;
  /** The repository the blobs were mounted from, when one was used. */
  mountedFrom?: string;
  /** Other repositories whose manifests were read (pull only) to plan mounts. */
  sourcesRead?: string[];
}

/** What the blobs came to, in every repository: derived from the outcomes, never kept apart. */
export interface BlobCounts {
  /** Every blob that failed, each once. */
  failedBlobs: string[];
  blobsUploaded: number;
  blobsSkipped: number;
  blobsMounted: number;
  bytesUploaded: number;
  /** The bytes of the blobs mounted from another repository: not sent. */
  bytesMounted: number;
}

export interface PushResult extends Readonly<BlobCounts> {
  ok: boolean;
  /** The digest of the top-level manifest or index. */
  digest?: string;
  /** `host/repo:tag@digest`, one per tag pushed (or `host/repo@digest` for a push by digest). */
  refs: string[];
  /** Tags this push set that read back with another digest: `host/repo:tag@digest-served`. */
  elsewhere: string[];
  /** Referrers tags written for registries without the referrers API (`host/repo:sha256-…`). */
  referrers: string[];
  /** The refs the user asked for, as normalised references. */
  targetRefs: string[];
  targets: TargetResult[];
  image?: LoadedImage;
  /** What was pushed, when it is not a local image (an index assembled from the registry). */
  source?: string;
  /** The platforms the pushed image or index is for (`linux/amd64`), when known. */
  platforms?: string[];
  /** Whether the targets are pushed by digest only (push-by-digest): nothing is tagged. */
  byDigest?: boolean;
  /** A dry run: what a push would have sent and tagged; nothing was written. */
  dryRun?: DryRun;
  /** Where the push stopped, when it failed. */
  phase?: Phase;
  /** The registry (host[:port]) it was talking to when it stopped outside the blobs. */
  stoppedAt?: string;
  /** The registry the username and password were for, when they were given. */
  credentialsRegistry?: string;
  error?: Error;
  /** The probable cause of a failure that is not one blob's, from the failure rules. */
  cause?: CauseId;
  durationMs: number;
}

/** What a dry run found: blobs each registry lacks (a push would send them), and the tags. */
export interface DryRun {
  wouldUpload: number;
  wouldUploadBytes: number;
  present: number;
  wouldTag: string[];
}

/** The counts of the blob outcomes of `targets`. */
export function blobCounts(targets: readonly TargetResult[]): BlobCounts {
  const counts: BlobCounts = {
    failedBlobs: [],
    blobsUploaded: 0,
    blobsSkipped: 0,
    blobsMounted: 0,
    bytesUploaded: 0,
    bytesMounted: 0,
  };
  const failed = new Set<string>();
  for (const target of targets)
    for (const blob of target.blobs.values()) {
      if (blob.state === 'failed') failed.add(blob.digest);
      else if (blob.how === 'monolithic' || blob.how === 'chunked') {
        counts.blobsUploaded++;
        counts.bytesUploaded += blob.size;
      } else {
        counts.blobsSkipped++;
        if (blob.how === 'mounted') {
          counts.blobsMounted++;
          counts.bytesMounted += blob.size;
        }
      }
    }
  counts.failedBlobs = [...failed];
  return counts;
}

const COUNTS: (keyof BlobCounts)[] = [
  'failedBlobs',
  'blobsUploaded',
  'blobsSkipped',
  'blobsMounted',
  'bytesUploaded',
  'bytesMounted',
];

/** A result before anything happened: not ok, nothing pushed; its counts follow its targets. */
export function emptyResult(
  tags: ImageReference[],
  extra: Partial<Omit<PushResult, keyof BlobCounts>> = {},
): PushResult {
  const result = {
    ok: false,
    refs: [],
    elsewhere: [],
    referrers: [],
    targetRefs: tags.map((t) => formatReference(t)),
    targets: [],
    durationMs: 0,
    ...extra,
  };
  for (const key of COUNTS)
    Object.defineProperty(result, key, {
      get: () => blobCounts(result.targets)[key],
      enumerable: true,
    });
  return result as unknown as PushResult;
}
