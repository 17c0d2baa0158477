import type { Credentials } from '../registry/auth.js';
import type { ImageReference } from '../registry/reference.js';
import type { UploadMode } from '../upload/options.js';

export interface PushOptions {
  tags: ImageReference[];
  /** Explicit credentials; they are used for the registry of the first tag only. */
  credentials?: Credentials;
  insecure: boolean;
  concurrency: number;
  retries: number;
  uploadMode: UploadMode;
  chunkSize: number;
  /** PEM text of extra trusted CA certificates. */
  ca?: string;
  /** For ghcr.io when no other credentials are found. */
  githubToken?: string;
}
