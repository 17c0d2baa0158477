import type { Logger } from '../util/logger.js';
import type { Transport } from './http.js';
import { displayUrl } from './redact.js';

/** Logs each exchange at debug level: method, redacted URL, status and time taken. */
export function withLogging(next: Transport, logger: Logger): Transport {
  return async (req) => {
    const started = Date.now();
    try {
      const res = await next(req);
      logger.debug(
        `${req.method} ${displayUrl(req.url)} → ${res.status} (${Date.now() - started} ms)`,
      );
      return res;
    } catch (error) {
      logger.debug(
        `${req.method} ${displayUrl(req.url)} → ${(error as Error).message} (${Date.now() - started} ms)`,
      );
      throw error;
    }
  };
}
