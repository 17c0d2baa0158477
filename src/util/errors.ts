/**
 * A problem with what the user gave us (a layout, a file, a reference). It is reported as one line
 * and exit code 1, never with a stack trace.
 */
export class InputError extends Error {
  override name = 'InputError';
}

/** A malformed invocation: an unknown flag, a bad input value. The CLI exits with 2 for these. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
