/**
 * What known registries are documented or seen to do, as data: each host's profile starts from its
 * row, and what a push learns adds to it. A new quirk of a known host is a row here (or a field of
 * one), with its test; regclient's per-host settings are the model.
 */
export interface HostQuirks {
  /** The largest chunk a PATCH may carry. */
  maxChunk?: number;
  /** The smallest chunk but the last. */
  minChunk?: number;
  /** No chunked uploads: a blob goes in one body, or not at all. */
  noChunkedUploads?: boolean;
  /** Upload sessions are gone this long after they open. */
  sessionLifetimeMs?: number;
}

const MiB = 1 << 20;

interface KnownHost {
  name: string;
  /** Matched against the API host, lower-case, without its port. */
  host: RegExp;
  quirks: HostQuirks;
}

const KNOWN_HOSTS: readonly KnownHost[] = [
  // PATCH bodies over 4 MiB answer 416 "too large".
  { name: 'GitHub Container Registry', host: /^ghcr\.io$/, quirks: { maxChunk: 4 * MiB } },
  // Parts under 5 MiB (but the last) are refused when the next part comes.
  {
    name: 'Amazon ECR',
    host: /\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/,
    quirks: { minChunk: 5 * MiB },
  },
  // S3-style parts: at least 5 MiB and all of one size but the last.
  { name: 'Cloudflare R2', host: /\.r2\.cloudflarestorage\.com$/, quirks: { minChunk: 5 * MiB } },
  // Chunked uploads are not supported: one body per blob.
  {
    name: 'Google Artifact Registry',
    host: /(^|\.)[a-z0-9-]+-docker\.pkg\.dev$/,
    quirks: { noChunkedUploads: true },
  },
];

/** The quirks of `apiHost` (host[:port]) when it is a known registry; none otherwise. */
export function quirksOf(apiHost: string): HostQuirks {
  const host = apiHost
    .toLowerCase()
    .replace(/:\d+$/, '')
    .replace(/^\[|\]$/g, '');
  return KNOWN_HOSTS.find((known) => known.host.test(host))?.quirks ?? {};
}
