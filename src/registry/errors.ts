import type { Op } from './failure.js';
import { capped, foreignLine, oneLine } from '../util/text.js';
import { displayUrl } from './redact.js';

export interface RegistryErrorCode {
  code: string;
  message?: string;
  detail?: unknown;
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
  /** A network error code such as ECONNRESET, when no response came. */
  networkCode?: string;
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
    this.bodyIncomplete = init.bodyIncomplete ?? false;
    this.proxy = init.proxy;
  }

  hasCode(...codes: string[]): boolean {
    return this.codes.some((c) => codes.includes(c.code));
  }

  private static describe(init: RegistryErrorInit, url: string): string {
    const what =
      init.status !== undefined ? `${init.status}` : (init.networkCode ?? 'network error');
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
