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
  /**
   * Failed here, but a push with the defaults gets past it (a body cap that chunks go under, http
   * Locations kept on https): said, and not counted as a failure of the registry.
   */
  workaround?: boolean;
}

/** The findings that would stop a push with the defaults. */
export function blocking(findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => f.ok === false && !f.workaround);
}
