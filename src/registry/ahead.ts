import type { HttpRequest, HttpResponse, Transport } from './http.js';

/**
 * Checks asked ahead: sent beside the first `GET /v2/` instead of after its answer, so a distant
 * registry answers both in one round trip. By request; each answer is taken once. `undefined`:
 * never sent.
 */
export type Ahead = Map<string, Promise<HttpResponse | undefined>>;

/** Requests that ask the same: method, URL and what they accept. */
const sameAs = (req: HttpRequest): string =>
  `${req.method} ${req.url.href} ${req.headers?.accept ?? ''}`;

/**
 * Sends each request once `ready` says the registry's first connection is up and multiplexed
 * (HTTP/2: they share it, never opening connections of their own). A failure is kept, to be the
 * failure of the check that takes it.
 */
export function askAhead(
  requests: readonly HttpRequest[],
  send: Transport,
  ready: Promise<boolean>,
): Ahead {
  const ahead: Ahead = new Map();
  for (const req of requests) {
    const asked = ready.then((multiplexed) => (multiplexed ? send(req) : undefined));
    // Settled when a check takes it; never an unhandled rejection meanwhile.
    asked.catch(() => undefined);
    ahead.set(sameAs(req), asked);
  }
  return ahead;
}

/**
 * A check asked ahead takes that answer, whatever it is, a failure included: it is used only where
 * the registry wants no credentials and none are sent, so the request in its turn would be the same
 * request again, a try more than `retries` allows. Only one never sent goes out now.
 */
export function withAhead(next: Transport, ahead: Ahead): Transport {
  return async (req) => {
    // Only a check before anything is written: a verification or a read-back must ask anew.
    const asked = req.mayUseAhead ? ahead.get(sameAs(req)) : undefined;
    if (!asked) return next(req);
    ahead.delete(sameAs(req));
    return (await asked) ?? next(req);
  };
}
