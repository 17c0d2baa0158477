import type { Op } from './failure.js';
import { capped, foreignLine, oneLine } from '../util/text.js';
import { displayUrl } from './redact.js';

export interface RegistryErrorCode {
  code: string;
  message?: string;
  detail?: unknown;
}

/**
 * An answer oci-push refuses, named by the cause it is: a redirect it will not follow, a realm no
 * credentials may go to, a manifest or tag the registry does not serve as pushed, a digest that is
 * not one. Nothing is wrong with the network, so nothing is tried again.
 */
export type Refusal =
  | 'redirect-loop'
  | 'redirect-scheme'
  | 'realm-insecure'
  | 'realm-invalid'
  | 'manifest-dropped'
  | 'manifest-digest-mismatch'
  | 'invalid-digest';

/** A request that ended without an answer because of us: its deadline, or the run's cancel. */
export type Ending = 'deadline' | 'cancelled';

/** A proxy tunnel that did not open: the proxy's status, or how it failed without one. */
export interface TunnelFault {
  failure: 'closed' | 'stalled' | 'garbage' | 'status';
  status?: number;
}

export interface RegistryErrorInit {
  method: string;
  /** The step the request was for; the failure rules read it. */
  op?: Op;
  url: URL | string;
  status?: number;
  codes?: RegistryErrorCode[];
  /** Response headers worth keeping for a diagnosis (server, content-type, location, www-authenticate). */
  headers?: Record<string, string>;
  /** The start of a non-JSON body (an HTML error page), as text. */
  bodySnippet?: string;
  /** The system's or undici's error code (ECONNRESET, UND_ERR_SOCKET…), when no response came. */
  networkCode?: string;
  refused?: Refusal;
  ended?: Ending;
  tunnel?: TunnelFault;
  /** A verification found the blob with another size or digest: what the registry reports. */
  mismatch?: string;
  /** True when the connection failed while the request body was still being sent. */
  bodyIncomplete?: boolean;
  /** A short phrase saying what the request was for, shown before the details. */
  context?: string;
  /** The proxy the request went through (scheme, host and port, no credentials), when one did. */
  proxy?: string;
  cause?: unknown;
}

/** The longest error message kept: a few registry messages, never a whole error body. */
const MAX_MESSAGE = 2000;

/** One error type for everything a registry (or the network to it) answers that we cannot accept. */
export class RegistryError extends Error {
  override name = 'RegistryError';
  readonly method: string;
  readonly op?: Op;
  readonly url: string;
  readonly status?: number;
  readonly codes: RegistryErrorCode[];
  readonly headers: Record<string, string>;
  readonly bodySnippet?: string;
  readonly networkCode?: string;
  readonly refused?: Refusal;
  readonly ended?: Ending;
  readonly tunnel?: TunnelFault;
  readonly mismatch?: string;
  readonly bodyIncomplete: boolean;
  readonly proxy?: string;

  constructor(init: RegistryErrorInit) {
    const url = displayUrl(init.url);
    // A registry writes these messages: never let them break the line they are shown on.
    // A registry writes these messages: never let them break the line they are shown on, or fill it.
    super(capped(oneLine(RegistryError.describe(init, url)), MAX_MESSAGE), { cause: init.cause });
    this.method = init.method;
    this.op = init.op;
    this.url = url;
    this.status = init.status;
    this.codes = init.codes ?? [];
    this.headers = init.headers ?? {};
    this.bodySnippet = init.bodySnippet;
    this.networkCode = init.networkCode;
    this.refused = init.refused;
    this.ended = init.ended;
    this.tunnel = init.tunnel;
    this.mismatch = init.mismatch;
    this.bodyIncomplete = init.bodyIncomplete ?? false;
    this.proxy = init.proxy;
  }

  /** What came instead of the answer wanted, in a word: the status, or why none came. */
  get answer(): string {
    return RegistryError.answerOf(this);
  }

  private static answerOf(e: RegistryErrorInit): string {
    if (e.status !== undefined) return `${e.status}`;
    if (e.tunnel) return e.tunnel.status ? `proxy ${e.tunnel.status}` : `proxy ${e.tunnel.failure}`;
    return e.networkCode ?? e.refused ?? e.ended ?? 'network error';
  }

  hasCode(...codes: string[]): boolean {
    return this.codes.some((c) => codes.includes(c.code));
  }

  private static describe(init: RegistryErrorInit, url: string): string {
    const what = RegistryError.answerOf(init);
    const codes = (init.codes ?? [])
      .map((c) => foreignLine(c.message ? `${c.code}: ${c.message}` : c.code))
      .join('; ');
    const server = init.headers?.server ? ` from ${foreignLine(init.headers.server, 80)}` : '';
    const html =
      !codes && init.bodySnippet && /<html|<!doctype/i.test(init.bodySnippet)
        ? ` (an HTML page${server})`
        : '';
    const detail = codes ? ` ${codes}` : html;
    const prefix = init.context ? `${init.context}: ` : '';
    // With a context that already says what went wrong, the library's own words would repeat it.
    const causeMessage =
      init.status === undefined && init.cause instanceof Error && !init.context
        ? ` (${init.cause.message})`
        : '';
    return `${prefix}${init.method} ${url} → ${what}${detail}${causeMessage}`;
  }
}
