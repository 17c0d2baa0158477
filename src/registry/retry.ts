import type { Logger } from '../util/logger.js';
import type { Clock } from '../util/clock.js';
import { RetryBudget } from './budget.js';
import { RegistryError } from './errors.js';
import { type Fault, type Op, faultOf } from './failure.js';
import { type HttpRequest, type HttpResponse, type Transport, errorFromResponse } from './http.js';
import { displayUrl } from './redact.js';

export const BACKOFF_BASE_MS = 1_000;
export const BACKOFF_MAX_MS = 30_000;
const QUICK_BASE_MS = 250;
/** Quick retries for a refused connection: 0.25 + 0.5 + 1 + 2 s, so a push fails well inside 15 s. */
export const QUICK_RETRIES = 4;
/** A Retry-After beyond this is a registry asking us to give up, not to wait. */
const RETRY_AFTER_MAX_MS = 5 * 60_000;

export interface RetryPolicy {
  /** `retries: N`: each request is sent at most N+1 times. */
  retries: number;
  clock: Clock;
}

/** Retry-After in seconds or as an HTTP date, as milliseconds from now; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Math.min(Number(trimmed) * 1000, RETRY_AFTER_MAX_MS);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - now), RETRY_AFTER_MAX_MS);
}

/** Exponential backoff with jitter: 1 s doubling to 30 s, each delay drawn from its upper half. */
export function backoffDelay(retry: number, clock: Clock): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** retry);
  return Math.round(ceiling / 2 + (ceiling / 2) * clock.random());
}

/** The wait before the next try: Retry-After when the registry gave one, else backoff. */
export function waitFor(
  fault: Pick<Fault, 'quick'>,
  retry: number,
  clock: Clock,
  headers: Record<string, string> = {},
): number {
  const retryAfter = parseRetryAfter(headers['retry-after'], clock.now());
  if (retryAfter !== undefined) return retryAfter;
  if (fault.quick) return QUICK_BASE_MS * 2 ** retry;
  return backoffDelay(retry, clock);
}

/** The failure an unwanted answer would be, to ask the rules whether to send it again. */
function asError(req: HttpRequest, outcome: { res: HttpResponse } | { error: unknown }): unknown {
  return 'res' in outcome ? errorFromResponse(req, outcome.res) : outcome.error;
}

/** Whether a fault may be tried again, on its `retry`-th retry: transient ones, quick ones a few times. */
export function mayRetry(fault: Fault, retry: number): boolean {
  return fault.kind === 'transient' && !(fault.quick && retry >= QUICK_RETRIES);
}

/**
 * Sends a request again when the failure rules call its failure transient and its budget allows. A request's body
 * is a factory, so each try rereads it. Statuses the caller handles itself (404 to a HEAD, 202 to a
 * mount) are not failures and come back at once.
 */
export function withRetry(next: Transport, policy: RetryPolicy, logger: Logger): Transport {
  return async (req: HttpRequest): Promise<HttpResponse> => {
    // A request of its own (ping, token, manifest): blob requests are sent once, and their
    // machine tries again.
    const budget = new RetryBudget(policy.retries);
    const op: Op = req.op ?? 'read';
    for (let retry = 0; ; retry++) {
      let outcome: { res: HttpResponse } | { error: unknown };
      try {
        outcome = { res: await next(req) };
      } catch (error) {
        outcome = { error };
      }
      if ('res' in outcome && outcome.res.status < 400) return outcome.res;
      const error = asError(req, outcome);
      if (!(error instanceof RegistryError)) return settle(outcome);
      const fault = faultOf(error, { op });
      if (!mayRetry(fault, retry) || !budget.spend()) return settle(outcome);
      const wait = waitFor(fault, retry, policy.clock, error.headers);
      const why = error.answer;
      logger.info(
        `${req.method} ${displayUrl(req.url)}: ${why}; trying again in ${(wait / 1000).toFixed(1)} s`,
      );
      await policy.clock.sleep(wait);
    }
  };
}

function settle(outcome: { res: HttpResponse } | { error: unknown }): HttpResponse {
  if ('res' in outcome) return outcome.res;
  throw outcome.error;
}
