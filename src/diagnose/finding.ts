import type { CauseId } from '../registry/failure.js';

/** One check of `oci-push diagnose`, shown by the CLI and in the summary after a failed push. */
export interface Finding {
  check: string;
  /** The step the check probed: the failure rules read the same answer differently per step. */
  phase: 'connect' | 'auth' | 'blobs';
  /** undefined when the check was not run (it neither passed nor failed). */
  ok: boolean | undefined;
  detail: string;
  cause?: CauseId;
}
