import { CorruptBlobError } from '../oci/blob-reader.js';
import { CancelledError } from '../util/cancel.js';
import { InputError, UsageError } from '../util/errors.js';
import { type Ending, type Refusal, RegistryError, type TunnelFault } from './errors.js';

/** What a request was for. The same status means different things on different steps. */
export type Op =
  | 'ping'
  | 'token'
  | 'authorize'
  | 'exists'
  | 'mount'
  | 'open'
  | 'put-blob'
  | 'patch'
  | 'commit'
  | 'status'
  | 'cancel'
  | 'verify'
  | 'mount-verify'
  | 'manifest'
  | 'read';

export type CauseId =
  | 'corrupt-layout'
  | 'bytes-changed'
  | 'cloudflare-body-limit'
  | 'nginx-body-limit'
  | 'proxy-body-limit'
  | 'body-limit-at-floor'
  | 'chunk-window'
  | 'vanished-after-ack'
  | 'verify-mismatch'
  | 'lost-session'
  | 'session-expired'
  | 'no-shared-secret'
  | 'location-downgrade'
  | 'token-lifetime'
  | 'credentials'
  | 'no-credentials'
  | 'permission-denied'
  | 'proxy-timeout'
  | 'storage-error'
  | 'rate-limited'
  | 'read-only'
  | 'repository-unknown'
  | 'manifest-refused'
  | 'tag-immutable'
  | 'tls-untrusted'
  | 'tls-self-signed'
  | 'tls-name-mismatch'
  | 'http-over-https'
  | 'connection-refused'
  | 'dns-failure'
  | 'connect-timeout'
  | 'connection-reset'
  | 'connection-dropped'
  | 'registry-stalled'
  | 'location-unreachable'
  | 'proxy-auth'
  | 'proxy-refused'
  | 'proxy-unreachable'
  | 'proxy-tunnel'
  | Refusal
  | 'mount-refused'
  | 'input'
  | 'cancelled'
  | 'unknown';

/** One failed exchange, reduced to what the rules look at. */
export interface Failure {
  op: Op;
  status?: number;
  /** Registry error codes (`BLOB_UPLOAD_UNKNOWN`, …). */
  codes: string[];
  /** The registry's messages, for the few rules that must read them (GHCR's 416 "too large"). */
  text: string;
  /** The system's or undici's error code, when no answer came. */
  networkCode?: string;
  /** An answer oci-push refused, by the cause it is. */
  refused?: Refusal;
  /** No answer, because of our deadline or the run's cancel. */
  ended?: Ending;
  /** The proxy did not open the tunnel. */
  tunnel?: TunnelFault;
  /** The blob read back with another size or digest. */
  mismatch?: boolean;
  /** The connection broke while the request body was still being sent. */
  bodyIncomplete: boolean;
  wwwAuthenticate?: string;
  /** Who answered: the `server` header, or the server an HTML error page names. */
  server?: string;
  cfRay: boolean;
  /** The request went through this proxy (HTTPS_PROXY or HTTP_PROXY). */
  proxy?: string;
}

/**
 * What a failed answer means, whatever was tried before it: the machine that sent the request
 * decides what to do with it, from the state it was in and what it already tried.
 * - `transient`: the same request may pass if sent again (upload bodies: their session's way back);
 * - `body-cut`: a body the path broke off or timed out: smaller bodies may get through;
 * - `body-too-large`: a body refused by its size;
 * - `chunk-window`: chunks refused as too small;
 * - `range-mismatch`: a chunk the session placed elsewhere than we sent it;
 * - `session-gone`: an upload session the registry no longer knows;
 * - `digest-refused`: the registry computed another digest for the bytes it got;
 * - `vanished`: a blob the registry acknowledged, then did not serve as sent;
 * - `mount-refused`: a cross-repository mount not done, or not reading back;
 * - `single-body-refused`: a registry that takes uploads only in chunks;
 * - `location-unreachable`: an upload Location on a host the runner cannot reach;
 * - `auth`: credentials, a token or a proxy login refused;
 * - `final`: this request cannot succeed: its blob fails, the other blobs go on;
 * - `fatal`: nothing else in the push can succeed either.
 */
export type FaultKind =
  | 'transient'
  | 'body-cut'
  | 'body-too-large'
  | 'chunk-window'
  | 'range-mismatch'
  | 'session-gone'
  | 'digest-refused'
  | 'vanished'
  | 'mount-refused'
  | 'single-body-refused'
  | 'location-unreachable'
  | 'auth'
  | 'final'
  | 'fatal';

/** A failure interpreted: its probable cause, and what kind of failure it is. */
export interface Fault {
  kind: FaultKind;
  cause: CauseId;
  /** Try again soon: a registry that refuses connections may be a service container starting. */
  quick?: boolean;
}

/** The request as it was sent, besides its op: facts of this one exchange, not of a history. */
export interface Sent {
  op: Op;
  /** The credentials it carried: none found, found but not yet accepted, or accepted. */
  credentials?: 'none' | 'offered' | 'accepted';
  /** An upload request to a Location on another host, or to that Location's path moved onto the registry's own host. */
  location?: 'foreign' | 'moved';
  /** A manifest PUT whose missing blob is not one this push uploaded (a foreign layer). */
  foreignBlob?: boolean;
}

/** The credentials a request carried, from whether any were found and whether they were accepted. */
export function credentialsSent(found: boolean, accepted: boolean): Sent['credentials'] {
  if (accepted) return 'accepted';
  return found ? 'offered' : 'none';
}

const BODY_OPS = new Set<Op>(['put-blob', 'patch']);
const UPLOAD_OPS = new Set<Op>(['put-blob', 'patch', 'commit', 'status', 'cancel']);

const TLS_UNTRUSTED =
  /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_UNTRUSTED|CERT_SIGNATURE_FAILURE|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT|CERT_)/;
const TLS_SELF_SIGNED = /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)$/;
const TLS_NAME = /^ERR_TLS_CERT_ALTNAME_INVALID$/;
const TLS_PLAIN_PEER = /^(ERR_SSL_WRONG_VERSION_NUMBER|ERR_SSL_PACKET_LENGTH_TOO_LONG|EPROTO)$/;
const DROPPED =
  /^(ECONNRESET|EPIPE|ECONNABORTED|UND_ERR_SOCKET|UND_ERR_CLOSED|UND_ERR_HEADERS_TIMEOUT|UND_ERR_BODY_TIMEOUT|ETIMEDOUT|UND_ERR_REQ_CONTENT_LENGTH_MISMATCH)$/;
const UNREACHABLE =
  /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|UND_ERR_CONNECT_TIMEOUT)$/;

const fault = (kind: FaultKind, cause: CauseId): Fault => ({ kind, cause });

function tooSmall(f: Failure): boolean {
  return f.codes.includes('RANGE_ERROR') || /too ?small|PartTooSmall|at least \d/i.test(f.text);
}

function bodyLimitCause(f: Failure): CauseId {
  if (f.cfRay || /cloudflare/i.test(f.server ?? '')) return 'cloudflare-body-limit';
  if (/nginx/i.test(f.server ?? '')) return 'nginx-body-limit';
  return 'proxy-body-limit';
}

/**
 * A tunnel the proxy did not open. An answer (407, 403, 502) is its rules: final. A close, a stall or
 * garbage may pass.
 */
function tunnelFailed(tunnel: TunnelFault): Fault {
  if (tunnel.status === 407) return fault('auth', 'proxy-auth');
  if (tunnel.status !== undefined) return fault('fatal', 'proxy-refused');
  return fault('transient', 'proxy-tunnel');
}

/** A refused answer, a tunnel, or a cancel: no network code to read. */
function notSent(f: Failure): Fault | undefined {
  if (f.ended === 'cancelled') return fault('fatal', 'cancelled');
  if (f.refused)
    return f.refused === 'realm-insecure' || f.refused === 'realm-invalid'
      ? fault('fatal', f.refused)
      : fault('final', f.refused);
  if (f.tunnel) return tunnelFailed(f.tunnel);
  return undefined;
}

/** No connection, or no trusted one: what the system said about it. */
function unconnected(f: Failure, sent: Sent): Fault | undefined {
  const code = f.networkCode ?? '';
  // The proxy could not be reached: never the registry's fault.
  if (f.proxy && UNREACHABLE.test(code) && code !== 'UND_ERR_CONNECT_TIMEOUT')
    return fault('fatal', 'proxy-unreachable');
  if (TLS_SELF_SIGNED.test(code)) return fault('fatal', 'tls-self-signed');
  if (TLS_NAME.test(code)) return fault('fatal', 'tls-name-mismatch');
  if (TLS_UNTRUSTED.test(code)) return fault('fatal', 'tls-untrusted');
  if (TLS_PLAIN_PEER.test(code) || code.startsWith('ERR_SSL'))
    return fault('fatal', 'http-over-https');
  // The registry answered /v2/ and its POST, but sends uploads to a host the runner cannot reach.
  if (sent.location === 'foreign' && UPLOAD_OPS.has(f.op) && UNREACHABLE.test(code))
    return fault('location-unreachable', 'location-unreachable');
  if (code === 'ENOTFOUND') return fault('fatal', 'dns-failure');
  if (code === 'EAI_AGAIN') return { kind: 'transient', cause: 'dns-failure', quick: true };
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH')
    return { kind: 'transient', cause: 'connection-refused', quick: true };
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return fault('transient', 'connect-timeout');
  return undefined;
}

/** A failure with no answer from the registry. */
function network(f: Failure, sent: Sent): Fault {
  const early = notSent(f) ?? unconnected(f, sent);
  if (early) return early;
  // The registry stopped answering within the request's deadline: said as what it was.
  if (f.ended === 'deadline') return fault('transient', 'registry-stalled');
  const code = f.networkCode ?? '';
  // No code at all is a connection that broke without saying how.
  if (code && !DROPPED.test(code)) return fault('final', 'unknown');
  if (BODY_OPS.has(f.op) && f.bodyIncomplete) return fault('body-cut', 'connection-reset');
  return fault('transient', 'connection-dropped');
}

type Rule = (f: Failure, sent: Sent) => Fault | undefined;

const has = (f: Failure, ...codes: string[]): boolean => f.codes.some((c) => codes.includes(c));

/** After a commit or a mount the blob must read back as sent. */
const readBack: Rule = (f) => {
  if (f.op === 'mount-verify') return fault('mount-refused', 'unknown');
  if (f.op !== 'verify') return undefined;
  if (f.mismatch) return fault('vanished', 'verify-mismatch');
  if (f.status === 404) return fault('vanished', 'vanished-after-ack');
  return undefined;
};

/** The content and the repository. */
const contents: Rule = (f, sent) => {
  // Uploads do not hash as they send: the machine hashes the file when the registry refuses it.
  if (has(f, 'DIGEST_INVALID'))
    return f.op === 'commit' || f.op === 'put-blob'
      ? fault('digest-refused', 'bytes-changed')
      : fault('final', 'corrupt-layout');
  if (has(f, 'NAME_UNKNOWN', 'NAME_INVALID')) return fault('fatal', 'repository-unknown');
  // A blob the push never uploaded (a foreign layer the registry will not fetch) cannot be lost.
  if (f.op === 'manifest' && has(f, 'MANIFEST_BLOB_UNKNOWN', 'BLOB_UNKNOWN'))
    return sent.foreignBlob
      ? fault('fatal', 'manifest-refused')
      : fault('vanished', 'vanished-after-ack');
  return undefined;
};

/** 401 and 403: a refused mount, a read-only registry, credentials, or a token that expired. */
const refusals: Rule = (f, sent) => {
  if (f.status !== 401 && f.status !== 403) return undefined;
  if (f.op === 'mount') return fault('mount-refused', 'mount-refused');
  if (/read.?only/i.test(f.text)) return fault('fatal', 'read-only');
  if (sent.credentials === 'none') return fault('auth', 'no-credentials');
  const accepted = sent.credentials === 'accepted';
  if (/insufficient_scope/.test(f.wwwAuthenticate ?? '') || f.status === 403)
    return fault('auth', accepted ? 'permission-denied' : 'credentials');
  // The auth layer already fetched a fresh token once: a 401 after that, mid-push, is a token
  // that lives shorter than the push; at the start it is the credentials.
  return fault('auth', accepted ? 'token-lifetime' : 'credentials');
};

/** Bodies and chunks the path refused by their size, and mounts refused by their answer. */
const sizes: Rule = (f) => {
  if (f.op === 'mount' && (f.status === 400 || f.status === 404 || f.status === 405))
    return fault('mount-refused', 'mount-refused');
  if (f.status === 405 && f.op !== 'manifest' && f.op !== 'ping')
    return fault('fatal', 'read-only');
  if (f.status === 413)
    return f.op === 'manifest'
      ? fault('fatal', 'manifest-refused')
      : fault('body-too-large', bodyLimitCause(f));
  if (f.status === 416 && f.op === 'patch') {
    // GHCR refuses PATCH bodies over 4 MiB with 416 and says so; other 416s are a range mismatch.
    if (/too large|exceeds/i.test(f.text)) return fault('body-too-large', 'proxy-body-limit');
    if (tooSmall(f)) return fault('chunk-window', 'chunk-window');
    return fault('range-mismatch', 'lost-session');
  }
  // A single body refused as an unknown blob (old Artifactory takes POST, PATCH, empty PUT only).
  if (f.op === 'put-blob' && has(f, 'BLOB_UNKNOWN')) return fault('single-body-refused', 'unknown');
  // ECR refuses a part under 5 MiB with 400; R2 with 416 RANGE_ERROR (above).
  if (f.op === 'patch' && f.status === 400 && tooSmall(f))
    return fault('chunk-window', 'chunk-window');
  return undefined;
};

/** An upload session the registry no longer knows. */
const sessions: Rule = (f, sent) => {
  const gone =
    UPLOAD_OPS.has(f.op) &&
    (has(f, 'BLOB_UPLOAD_UNKNOWN', 'BLOB_UPLOAD_INVALID') || f.status === 404);
  if (!gone) return undefined;
  // The foreign Location's path on the registry's own host is not a session there either.
  if (sent.location === 'moved') return fault('fatal', 'location-unreachable');
  return fault('session-gone', 'lost-session');
};

/** What a registry or a proxy says when it is busy or failing: worth another try. */
const passing: Rule = (f) => {
  const status = f.status as number;
  if (f.op === 'manifest') {
    if (status === 409 || status === 412) return fault('fatal', 'tag-immutable');
    if (status === 400 || status === 405 || status === 415)
      return fault('fatal', 'manifest-refused');
  }
  if (status === 429) return fault('transient', 'rate-limited');
  // A proxy that gave up on the origin: for a body, perhaps one too large to pass in time.
  if (status === 520 || status === 522 || status === 524)
    return fault(BODY_OPS.has(f.op) ? 'body-cut' : 'transient', 'proxy-timeout');
  if (status === 408 || status === 499 || (status >= 500 && status <= 599))
    return fault('transient', 'storage-error');
  return undefined;
};

/** The answers' rules, in order: the first that has a fault decides. */
const ANSWER_RULES: Rule[] = [
  // A 407 comes from a proxy, never from a registry (an http registry behind HTTP_PROXY).
  (f) => (f.status === 407 ? fault('auth', 'proxy-auth') : undefined),
  readBack,
  contents,
  refusals,
  sizes,
  sessions,
  passing,
];

/** An answer with a status we did not want. */
function answered(f: Failure, sent: Sent): Fault {
  for (const rule of ANSWER_RULES) {
    const found = rule(f, sent);
    if (found) return found;
  }
  return fault('final', 'unknown');
}

/**
 * The failure rules: every probable cause oci-push shows, and the kind of failure its machine and
 * its transport act on, come from here. Pure: one answer to one request, no history.
 */
export function interpret(failure: Failure, sent: Sent = { op: failure.op }): Fault {
  const facts = { ...sent, op: failure.op };
  return failure.status === undefined ? network(failure, facts) : answered(failure, facts);
}

/** The Failure a RegistryError describes; `op` overrides the one recorded on the error. */
export function failureOf(error: RegistryError, op?: Op): Failure {
  return {
    op: op ?? error.op ?? 'read',
    status: error.status,
    codes: error.codes.map((c) => c.code),
    text: [
      ...error.codes.map((c) => `${c.code} ${c.message ?? ''} ${JSON.stringify(c.detail ?? '')}`),
      error.bodySnippet ?? '',
    ].join(' '),
    networkCode: error.networkCode,
    refused: error.refused,
    ended: error.ended,
    tunnel: error.tunnel,
    mismatch: error.mismatch !== undefined,
    bodyIncomplete: error.bodyIncomplete,
    wwwAuthenticate: error.headers['www-authenticate'],
    server:
      error.headers.server ??
      (/cloudflare/i.test(error.bodySnippet ?? '')
        ? 'cloudflare'
        : /nginx/i.test(error.bodySnippet ?? '')
          ? 'nginx'
          : undefined),
    cfRay: Boolean(error.headers['cf-ray']),
    proxy: error.proxy,
  };
}

/** The fault for any thrown value: registry errors by the rules, anything else by its kind. */
export function faultOf(error: unknown, sent: Partial<Sent> = {}): Fault {
  if (error instanceof RegistryError) {
    const failure = failureOf(error, sent.op);
    return interpret(failure, { ...sent, op: failure.op });
  }
  if (error instanceof CorruptBlobError) return fault('final', 'corrupt-layout');
  if (error instanceof CancelledError) return fault('fatal', 'cancelled');
  if (error instanceof InputError || error instanceof UsageError) return fault('fatal', 'input');
  return fault('fatal', 'unknown');
}
