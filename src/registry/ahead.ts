import type { HttpRequest, HttpResponse, Transport } from './http.js';

/**
 * Checks asked ahead: sent beside the first `GET /v2/` instead of after its answer, so a distant
 * registry answers both in one round trip. By request; each answer is taken once.
 */
export type Ahead = Map<string, Promise<HttpResponse | undefined>>;

/** Requests that ask the same: method, URL and what they accept. */
const sameAs = (req: HttpRequest): string =>
  `${req.method} ${req.url.href} ${req.headers?.accept ?? ''}`;

/**
 * Sends each request once `ready` says the registry's first connection is up and multiplexed (HTTP/2:
 * they share it, never opening connections of their own). Anonymous, untried again: an answer that
 * is not a plain yes or no is dropped, and the check is asked again in its turn.
 */
export function askAhead(
  requests: readonly HttpRequest[],
  send: Transport,
  ready: Promise<boolean>,
): Ahead {
  const ahead: Ahead = new Map();
  for (const req of requests)
    ahead.set(
      sameAs(req),
      ready.then((multiplexed) => (multiplexed ? send(req).catch(() => undefined) : undefined)),
    );
  return ahead;
}

/**
 * A HEAD asked ahead takes that answer when it is 200 or 404 and the registry wants no credentials
 * (its `GET /v2/` said 200); any other answer, or none, and the request is sent as usual.
 */
export function withAhead(next: Transport, ahead: Ahead): Transport {
  return async (req) => {
    // Only a check before anything is written: a verification or a read-back must ask anew.
    const asked = req.mayUseAhead ? ahead.get(sameAs(req)) : undefined;
    if (!asked) return next(req);
    ahead.delete(sameAs(req));
    const answer = await asked;
    return answer && (answer.status === 200 || answer.status === 404) ? answer : next(req);
  };
}
