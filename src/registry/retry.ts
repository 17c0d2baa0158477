import type { Logger } from '../logger.js';
import type { Clock } from '../util/clock.js';
import { RegistryError } from './errors.js';
import type { HttpRequest, HttpResponse, Transport } from './http.js';
import { displayUrl } from './redact.js';

const RETRYABLE_STATUS = new Set([408, 429, 499, 500, 502, 503, 504, 520, 521, 522, 523, 524]);
const RETRYABLE_NETWORK = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'ECONNREFUSED',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
]);

export const BACKOFF_BASE_MS = 1_000;
export const BACKOFF_MAX_MS = 30_000;
/** A Retry-After beyond this is a registry asking us to give up, not to wait. */
const RETRY_AFTER_MAX_MS = 5 * 60_000;

export interface RetryPolicy {
  retries: number;
  clock: Clock;
}

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUS.has(status);
}

export function isRetryableError(error: unknown): boolean {
  return (
    error instanceof RegistryError &&
    error.status === undefined &&
    RETRYABLE_NETWORK.has(error.networkCode ?? '')
  );
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

/** Retries one request on network errors and transient statuses; the body factory rereads the body. */
export function withRetry(next: Transport, policy: RetryPolicy, logger: Logger): Transport {
  return async (req: HttpRequest): Promise<HttpResponse> => {
    const allowed = req.retries ?? policy.retries;
    for (let retry = 0; ; retry++) {
      let outcome: { res: HttpResponse } | { error: unknown };
      try {
        outcome = { res: await next(req) };
      } catch (error) {
        outcome = { error };
      }
      const retryable =
        'res' in outcome ? isRetryableStatus(outcome.res.status) : isRetryableError(outcome.error);
      if (!retryable || retry >= allowed) {
        if ('res' in outcome) return outcome.res;
        throw outcome.error;
      }
      const retryAfter =
        'res' in outcome
          ? parseRetryAfter(outcome.res.headers['retry-after'], policy.clock.now())
          : undefined;
      const wait = retryAfter ?? backoffDelay(retry, policy.clock);
      const why =
        'res' in outcome
          ? `${outcome.res.status}`
          : ((outcome.error as RegistryError).networkCode ?? 'error');
      logger.info(
        `${req.method} ${displayUrl(req.url)}: ${why}; retry ${retry + 1} of ${allowed} in ${(wait / 1000).toFixed(1)} s`,
      );
      await policy.clock.sleep(wait);
    }
  };
}
