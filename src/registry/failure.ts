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

/**
 * What to do next:
 * - `retry`: send the same request again (it has no body, or resending it is harmless);
 * - `resume`: ask the upload session where it stands and go on from there;
 * - `restart`: drop the session and start a new one;
 * - `chunk`: drop the session and upload in chunks instead of one body;
 * - `shrink`: send smaller chunks in the same session; `grow`: a new session with larger chunks;
 * - `plain-upload`: a mount was refused; upload the blob instead;
 * - `lag`: ask again after a wait, for replicas to catch up with a write they acknowledged;
 * - `reupload`: the registry lost a blob it had acknowledged; upload it again;
 * - `fail-blob`: give up on this blob (the push goes on with the others, then stops before manifests);
 * - `fail-push`: nothing else can succeed either.
 */
export type Action =
  | 'retry'
  | 'resume'
  | 'restart'
  | 'chunk'
  | 'shrink'
  | 'grow'
  | 'plain-upload'
  | 'lag'
  | 'reupload'
  | 'own-host'
  | 'fail-blob'
  | 'fail-push';

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

/** What was already tried for this request or blob: the same failure can mean "again" or "stop". */
export interface Situation {
  /** Tries of this request or blob still allowed (the budget). */
  budgetLeft?: number;
  /** Upload sessions this blob may still start. */
  sessionsLeft?: number;
  /** Times this request was already retried (for the quick schedule while a registry starts). */
  attempt?: number;
  /** The credentials were accepted at the start of the push. */
  authorized?: boolean;
  /** No credentials were found for the registry. */
  anonymous?: boolean;
  /** A mid-push 401 was already answered with a fresh token. */
  refreshed?: boolean;
  /** The blob is being sent in chunks. */
  chunked?: boolean;
  /** `auto` mode: a refused single body may fall back to chunks. */
  mayChunk?: boolean;
  blobSize?: number;
  chunkSize?: number;
  /** The smallest chunk allowed (64 KiB, or the registry's OCI-Chunk-Min-Length). */
  chunkFloor?: number;
  /** The largest chunk the session allows (OCI-Chunk-Max-Length), when it says. */
  chunkCeiling?: number;
  /** New sessions with larger chunks still allowed. */
  growsLeft?: number;
  /** Upload sessions this blob already lost (before this failure). */
  lostSessions?: number;
  /** This session resumed at an offset the registry reported. */
  resumed?: boolean;
  /** The local file was hashed after the registry refused its digest, and matches it. */
  fileIntact?: boolean;
  /** For a manifest PUT that names a missing blob: whether it is one this push uploaded. */
  blobKnown?: boolean;
  /** The request went to an upload Location on another host than the registry's. */
  foreignLocation?: boolean;
  /** The request went to a foreign Location's path on the registry's own host. */
  onOwnHost?: boolean;
  /** How old the upload session is, and how long the host keeps sessions, when known. */
  sessionAgeMs?: number;
  sessionLifetimeMs?: number;
  /** HEADs after a commit that may still answer 404 while replicas catch up. */
  lagLeft?: number;
  /** Uploads again after the registry lost an acknowledged blob. */
  reuploadsLeft?: number;
}

export interface Decision {
  action: Action;
  cause: CauseId;
  /** Retry soon: a registry that refuses connections may be a service container still starting. */
  quick?: boolean;
}

const BODY_OPS = new Set<Op>(['put-blob', 'patch']);
const UPLOAD_OPS = new Set<Op>(['put-blob', 'patch', 'commit', 'status', 'cancel']);
const BLOB_OPS = new Set<Op>([
  'exists',
  'mount-verify',
  'mount',
  'open',
  'put-blob',
  'patch',
  'commit',
  'status',
  'cancel',
  'verify',
]);
/** Quick retries for a refused connection: 0.25 + 0.5 + 1 + 2 s, so a push fails well inside 15 s. */
export const QUICK_RETRIES = 4;

const TLS_UNTRUSTED =
  /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_UNTRUSTED|CERT_SIGNATURE_FAILURE|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT|CERT_)/;
const TLS_SELF_SIGNED = /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)$/;
const TLS_NAME = /^ERR_TLS_CERT_ALTNAME_INVALID$/;
const TLS_PLAIN_PEER = /^(ERR_SSL_WRONG_VERSION_NUMBER|ERR_SSL_PACKET_LENGTH_TOO_LONG|EPROTO)$/;
const DROPPED =
  /^(ECONNRESET|EPIPE|ECONNABORTED|UND_ERR_SOCKET|UND_ERR_CLOSED|UND_ERR_HEADERS_TIMEOUT|UND_ERR_BODY_TIMEOUT|ETIMEDOUT|UND_ERR_REQ_CONTENT_LENGTH_MISMATCH)$/;

/** Upload sessions a blob may lose before the loss itself is the answer. */
export const MAX_LOST_SESSIONS = 3;

function tooSmall(f: Failure): boolean {
  return f.codes.includes('RANGE_ERROR') || /too ?small|PartTooSmall|at least \d/i.test(f.text);
}

function isBlobOp(op: Op): boolean {
  return BLOB_OPS.has(op);
}

function give(op: Op): 'fail-blob' | 'fail-push' {
  return isBlobOp(op) ? 'fail-blob' : 'fail-push';
}

/**
 * Turns a decision into a final one where a bound of its own is reached: quick retries past their
 * count, chunks that cannot grow. The budget is not checked here: whoever tries again charges it
 * (`charge()` in the blob's machine, `withRetry` for the other requests), and says when it is spent.
 */
function bounded(decision: Decision, f: Failure, s: Situation): Decision {
  const { action } = decision;
  if (action === 'retry' && decision.quick && (s.attempt ?? 0) >= QUICK_RETRIES)
    return { ...decision, action: give(f.op), quick: false };
  // Chunks refused as too small: larger ones, unless the window has no room or the grows are spent.
  if (
    action === 'grow' &&
    ((s.growsLeft ?? 1) <= 0 ||
      (s.chunkCeiling !== undefined && (s.chunkSize ?? 0) >= s.chunkCeiling))
  )
    return { action: 'fail-blob', cause: 'chunk-window' };
  return decision;
}

function bodyLimitCause(f: Failure): CauseId {
  if (f.cfRay || /cloudflare/i.test(f.server ?? '')) return 'cloudflare-body-limit';
  if (/nginx/i.test(f.server ?? '')) return 'nginx-body-limit';
  return 'proxy-body-limit';
}

/** A body the path refused as too large: smaller chunks, chunks, or give up at the floor. */
function tooLarge(f: Failure, s: Situation, cause: CauseId): Decision {
  if (f.op === 'patch' || (f.op === 'put-blob' && s.chunked)) {
    if ((s.chunkSize ?? 0) > (s.chunkFloor ?? 0)) return { action: 'shrink', cause };
    return { action: 'fail-blob', cause: 'body-limit-at-floor' };
  }
  if (s.mayChunk && !s.chunked) return { action: 'chunk', cause };
  return { action: 'fail-blob', cause };
}

/**
 * A tunnel the proxy did not open. An answer (407, 403, 502) is its rules: final. A close, a stall or
 * garbage may pass: tried again while the budget lasts, like any request.
 */
function tunnelFailed(tunnel: TunnelFault): Decision {
  if (tunnel.status === 407) return { action: 'fail-push', cause: 'proxy-auth' };
  if (tunnel.status !== undefined) return { action: 'fail-push', cause: 'proxy-refused' };
  return { action: 'retry', cause: 'proxy-tunnel' };
}

/** A network failure with no answer from the registry. */
function network(f: Failure, s: Situation): Decision {
  if (f.ended === 'cancelled') return { action: 'fail-push', cause: 'cancelled' };
  if (f.refused)
    return {
      action:
        f.refused === 'realm-insecure' || f.refused === 'realm-invalid' ? 'fail-push' : give(f.op),
      cause: f.refused,
    };
  if (f.tunnel) return tunnelFailed(f.tunnel);
  const code = f.networkCode ?? '';
  // The proxy could not be reached: never the registry's fault.
  if (f.proxy && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH)$/.test(code))
    return { action: 'fail-push', cause: 'proxy-unreachable' };
  if (TLS_SELF_SIGNED.test(code)) return { action: 'fail-push', cause: 'tls-self-signed' };
  if (TLS_NAME.test(code)) return { action: 'fail-push', cause: 'tls-name-mismatch' };
  if (TLS_UNTRUSTED.test(code)) return { action: 'fail-push', cause: 'tls-untrusted' };
  if (TLS_PLAIN_PEER.test(code) || code.startsWith('ERR_SSL'))
    return { action: 'fail-push', cause: 'http-over-https' };
  // The registry answered /v2/ and its POST, but sends uploads to a host the runner cannot reach.
  if (
    s.foreignLocation &&
    UPLOAD_OPS.has(f.op) &&
    /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|UND_ERR_CONNECT_TIMEOUT)$/.test(
      code,
    )
  )
    return { action: 'own-host', cause: 'location-unreachable' };
  if (code === 'ENOTFOUND') return { action: 'fail-push', cause: 'dns-failure' };
  if (code === 'EAI_AGAIN') return { action: 'retry', cause: 'dns-failure', quick: true };
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH')
    return { action: 'retry', cause: 'connection-refused', quick: true };
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return { action: 'retry', cause: 'connect-timeout' };
  // The registry stopped answering within the request's deadline: like a dropped connection, the
  // same request again (or the session's own way back), but said as what it was.
  if (f.ended === 'deadline') {
    if (f.op === 'patch') return { action: 'resume', cause: 'registry-stalled' };
    if (f.op === 'put-blob') return { action: 'restart', cause: 'registry-stalled' };
    return { action: 'retry', cause: 'registry-stalled' };
  }
  // No code at all is a connection that broke without saying how.
  if (code && !DROPPED.test(code)) return { action: give(f.op), cause: 'unknown' };
  // The connection broke. Mid-body, chunks may get under whatever cuts large requests.
  if (BODY_OPS.has(f.op) && f.bodyIncomplete) {
    const smaller = (s.chunkSize ?? Infinity) < (s.blobSize ?? 0);
    if (f.op === 'put-blob' && !s.chunked && s.mayChunk && smaller)
      return { action: 'chunk', cause: 'connection-reset' };
    return { action: f.op === 'patch' ? 'resume' : 'restart', cause: 'connection-reset' };
  }
  if (f.op === 'put-blob') return { action: 'restart', cause: 'connection-dropped' };
  if (f.op === 'patch') return { action: 'resume', cause: 'connection-dropped' };
  return { action: 'retry', cause: 'connection-dropped' };
}

type Rule = (f: Failure, s: Situation) => Decision | undefined;

const has = (f: Failure, ...codes: string[]): boolean => f.codes.some((c) => codes.includes(c));

/**
 * After a commit (or a mount) the blob must read back as sent. A 404 is asked again while replicas
 * may lag; then the registry lost it, and it is uploaded again.
 */
const readBack: Rule = (f, s) => {
  if (f.op === 'mount-verify') return { action: 'plain-upload', cause: 'unknown' };
  if (f.op !== 'verify') return undefined;
  const mismatch = f.mismatch === true;
  if (!mismatch && f.status === 404 && (s.lagLeft ?? 0) > 0)
    return { action: 'lag', cause: 'vanished-after-ack' };
  if (mismatch || f.status === 404)
    return { action: 'reupload', cause: mismatch ? 'verify-mismatch' : 'vanished-after-ack' };
  return undefined;
};

/**
 * Uploads do not hash as they send: a refused digest has the local file hashed first (a corrupt
 * one is said as such before these rules). A file that matches means the bytes went wrong on the
 * way: after a resume, the registry's Range was misread (Quay and Gitea report it off by one);
 * otherwise something between changed them. Either way, start again from byte 0.
 */
const contents: Rule = (f, s) => {
  if (has(f, 'DIGEST_INVALID') && s.fileIntact && (f.op === 'commit' || f.op === 'put-blob'))
    return {
      action: 'restart',
      cause: f.op === 'commit' && s.resumed ? 'lost-session' : 'bytes-changed',
    };
  if (has(f, 'DIGEST_INVALID')) return { action: 'fail-blob', cause: 'corrupt-layout' };
  if (has(f, 'NAME_UNKNOWN', 'NAME_INVALID'))
    return { action: 'fail-push', cause: 'repository-unknown' };
  // A blob the push never uploaded (a foreign layer the registry will not fetch) cannot be lost.
  if (f.op === 'manifest' && has(f, 'MANIFEST_BLOB_UNKNOWN', 'BLOB_UNKNOWN'))
    return s.blobKnown === false
      ? { action: 'fail-push', cause: 'manifest-refused' }
      : { action: 'reupload', cause: 'vanished-after-ack' };
  return undefined;
};

/** 401 and 403: a refused mount, a read-only registry, credentials, or a token that expired. */
const refusals: Rule = (f, s) => {
  if (f.status !== 401 && f.status !== 403) return undefined;
  if (f.op === 'mount') return { action: 'plain-upload', cause: 'mount-refused' };
  if (/read.?only/i.test(f.text)) return { action: 'fail-push', cause: 'read-only' };
  if (!s.authorized && s.anonymous) return { action: 'fail-push', cause: 'no-credentials' };
  if (/insufficient_scope/.test(f.wwwAuthenticate ?? '') || f.status === 403)
    return { action: 'fail-push', cause: s.authorized ? 'permission-denied' : 'credentials' };
  // The auth layer already fetched a fresh token once: a 401 after that, mid-push, is a token
  // that lives shorter than the push; at the start it is the credentials.
  return { action: 'fail-push', cause: s.authorized ? 'token-lifetime' : 'credentials' };
};

/** Bodies and chunks the path refused by their size. */
const sizes: Rule = (f, s) => {
  if (f.op === 'mount' && (f.status === 400 || f.status === 404 || f.status === 405))
    return { action: 'plain-upload', cause: 'mount-refused' };
  if (f.status === 405 && f.op !== 'manifest' && f.op !== 'ping')
    return { action: 'fail-push', cause: 'read-only' };
  if (f.status === 413) {
    if (f.op === 'manifest') return { action: 'fail-push', cause: 'manifest-refused' };
    return tooLarge(f, s, bodyLimitCause(f));
  }
  if (f.status === 416 && f.op === 'patch') {
    // GHCR refuses PATCH bodies over 4 MiB with 416 and says so; other 416s are a range mismatch.
    if (/too large|exceeds/i.test(f.text)) return tooLarge(f, s, 'proxy-body-limit');
    if (tooSmall(f)) return { action: 'grow', cause: 'chunk-window' };
    return { action: 'resume', cause: 'lost-session' };
  }
  // A single body refused as an unknown blob (old Artifactory takes POST, PATCH, empty PUT only).
  if (f.op === 'put-blob' && !s.chunked && s.mayChunk && has(f, 'BLOB_UNKNOWN'))
    return { action: 'chunk', cause: 'unknown' };
  // ECR refuses a part under 5 MiB with 400; R2 with 416 RANGE_ERROR (above).
  if (f.op === 'patch' && f.status === 400 && tooSmall(f))
    return { action: 'grow', cause: 'chunk-window' };
  return undefined;
};

/** An upload session the registry no longer knows: lost, expired, or never there. */
const sessions: Rule = (f, s) => {
  const gone =
    UPLOAD_OPS.has(f.op) &&
    (has(f, 'BLOB_UPLOAD_UNKNOWN', 'BLOB_UPLOAD_INVALID') || f.status === 404);
  if (!gone) return undefined;
  // The foreign Location's path on the registry's own host is not a session there either.
  if (s.onOwnHost) return { action: 'fail-push', cause: 'location-unreachable' };
  // A session as old as the host's sessions live expired: not lost, and no sign of replicas.
  if ((s.sessionAgeMs ?? 0) >= (s.sessionLifetimeMs ?? Infinity))
    return { action: 'restart', cause: 'session-expired' };
  // A session lost again and again is replicas without a shared secret: a third loss is final,
  // and waiting between the tries helps nothing.
  const lost = (s.lostSessions ?? 0) + 1;
  if (lost >= MAX_LOST_SESSIONS) return { action: 'fail-push', cause: 'no-shared-secret' };
  return { action: 'restart', cause: lost >= 2 ? 'no-shared-secret' : 'lost-session', quick: true };
};

/** What a registry or a proxy says when it is busy or failing: worth another try. */
const passing: Rule = (f, s) => {
  const status = f.status as number;
  if (f.op === 'manifest') {
    if (status === 409 || status === 412) return { action: 'fail-push', cause: 'tag-immutable' };
    if (status === 400 || status === 405 || status === 415)
      return { action: 'fail-push', cause: 'manifest-refused' };
  }
  if (status === 429) return { action: 'retry', cause: 'rate-limited' };
  if (status === 520 || status === 522 || status === 524) {
    const smaller = (s.chunkSize ?? Infinity) < (s.blobSize ?? 0);
    if (f.op === 'put-blob' && !s.chunked && s.mayChunk && smaller)
      return { action: 'chunk', cause: 'proxy-timeout' };
    return transient(f, 'proxy-timeout');
  }
  if (status === 408 || status === 499 || (status >= 500 && status <= 599))
    return transient(f, 'storage-error');
  return undefined;
};

/** The answers' rules, in order: the first that has a decision decides. */
const ANSWER_RULES: Rule[] = [
  // A 407 comes from a proxy, never from a registry (an http registry behind HTTP_PROXY).
  (f) => (f.status === 407 ? { action: 'fail-push', cause: 'proxy-auth' } : undefined),
  readBack,
  contents,
  refusals,
  sizes,
  sessions,
  passing,
];

/** An answer with a status we did not want. */
function answered(f: Failure, s: Situation): Decision {
  for (const rule of ANSWER_RULES) {
    const decision = rule(f, s);
    if (decision) return decision;
  }
  return { action: give(f.op), cause: 'unknown' };
}

/** A transient failure: the same request again, or on an upload, the session's own way back. */
function transient(f: Failure, cause: CauseId): Decision {
  if (f.op === 'patch') return { action: 'resume', cause };
  if (f.op === 'put-blob') return { action: 'restart', cause };
  return { action: 'retry', cause };
}

/**
 * The failure policy: every retry, fallback and probable cause oci-push acts on or shows comes from
 * here. The rules are tried in order; the budget in `situation` turns "again" into "stop".
 */
export function classify(failure: Failure, situation: Situation = {}): Decision {
  const decision =
    failure.status === undefined ? network(failure, situation) : answered(failure, situation);
  return bounded(decision, failure, situation);
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

/** The decision for any thrown value: registry errors by the rules, anything else by its kind. */
export function classifyError(error: unknown, situation: Situation = {}, op?: Op): Decision {
  if (error instanceof RegistryError) return classify(failureOf(error, op), situation);
  if (error instanceof CorruptBlobError) return { action: 'fail-blob', cause: 'corrupt-layout' };
  if (error instanceof CancelledError) return { action: 'fail-push', cause: 'cancelled' };
  if (error instanceof InputError || error instanceof UsageError)
    return { action: 'fail-push', cause: 'input' };
  return { action: 'fail-push', cause: 'unknown' };
}
