import { createHash } from 'node:crypto';

export type DigestAlgorithm = 'sha256' | 'sha512';

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const DIGEST_RE = /^(sha256|sha512):([a-f0-9]+)$/;

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/**
 * Parses a digest strictly. The hex part later becomes a file name under blobs/, so anything but the
 * exact pattern (a `..`, a slash, upper case) must be refused here.
 */
export function parseDigest(value: string): ParsedDigest | undefined {
  const m = DIGEST_RE.exec(value);
  if (!m) return undefined;
  const algorithm = m[1] as DigestAlgorithm;
  const hex = m[2] as string;
  return hex.length === HEX_LENGTH[algorithm] ? { algorithm, hex } : undefined;
}

export function isDigest(value: string): boolean {
  return parseDigest(value) !== undefined;
}

export function digestOf(data: Buffer | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

export { digestFile } from './blob-reader.js';

export interface FileDigest {
  digest: string;
  size: number;
}

export function shortDigest(digest: string): string {
  const parsed = parseDigest(digest);
  return parsed ? `${parsed.algorithm}:${parsed.hex.slice(0, 12)}` : digest;
}

/** Where a blob lives in an OCI layout, as messages name it (the digest itself if malformed). */
export function blobName(digest: string): string {
  const parsed = parseDigest(digest);
  return parsed ? `blobs/${parsed.algorithm}/${parsed.hex}` : digest;
}
