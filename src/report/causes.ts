import type { BlobOutcome, Phase, TargetResult } from '../push/result.js';
import { RegistryError } from '../registry/errors.js';
import { CorruptBlobError } from '../upload/body.js';
import type { RegistryObservations } from '../registry/registry.js';

export type CauseId =
  | 'corrupt-layout'
  | 'cloudflare-body-limit'
  | 'nginx-body-limit'
  | 'proxy-body-limit'
  | 'vanished-after-ack'
  | 'no-shared-secret'
  | 'location-downgrade'
  | 'token-lifetime'
  | 'proxy-timeout'
  | 'storage-error'
  | 'credentials'
  | 'certificate'
  | 'connection-reset'
  | 'unknown';

export interface Cause {
  id: CauseId;
  /** The probable cause, as one sentence. */
  title: string;
  /** What to change. */
  fix: string;
}

/** The cause texts, shared by the summary, the annotations and `oci-push diagnose`. */
export const CAUSES: Record<CauseId, Omit<Cause, 'id'>> = {
  'corrupt-layout': {
    title:
      'The registry computed a different digest for the bytes it received (DIGEST_INVALID): the local layout is corrupt, or the file changed during the push.',
    fix: 'Export or build the image again, and make sure nothing writes to the layout while it is pushed.',
  },
  'cloudflare-body-limit': {
    title:
      "Cloudflare refused the request body as too large (413): Cloudflare's plan limits request bodies to 100 MB (Free and Pro), 200 MB (Business) or 500 MB (Enterprise).",
    fix: 'Use `upload-mode: chunked` (or the default `auto`), with a `chunk-size` below the plan limit, such as the default 50MiB.',
  },
  'nginx-body-limit': {
    title:
      'nginx refused the request body as too large (413): its `client_max_body_size` is smaller than the blob.',
    fix: 'Raise `client_max_body_size` on the proxy (`client_max_body_size 0;` disables the check), or use `upload-mode: chunked` with a smaller `chunk-size`.',
  },
  'proxy-body-limit': {
    title:
      'Something between the runner and the registry refused the request body as too large (413).',
    fix: "Raise the proxy's body size limit, or use `upload-mode: chunked` with a smaller `chunk-size`.",
  },
  'vanished-after-ack': {
    title:
      'The registry acknowledged the upload (201) and then answered 404 to HEAD: its replicas do not share storage, or its storage is eventually consistent.',
    fix: 'Give every registry replica the same storage backend (a shared bucket or volume), or route all requests of a push to one replica (sticky sessions); with eventually consistent storage, enable its read-after-write consistency.',
  },
  'no-shared-secret': {
    title:
      'Upload sessions were lost again and again (BLOB_UPLOAD_UNKNOWN or BLOB_UPLOAD_INVALID): load-balanced registry replicas do not share `http.secret`, so one replica rejects the session state another wrote.',
    fix: 'Set the same `http.secret` (REGISTRY_HTTP_SECRET) on every replica, or use sticky sessions.',
  },
  'location-downgrade': {
    title:
      'The registry answered with http Location headers although it is reached over https: the TLS-terminating proxy in front of it does not send X-Forwarded-Proto.',
    fix: 'Make the proxy send `X-Forwarded-Proto: https` (nginx: `proxy_set_header X-Forwarded-Proto $scheme;`), or set `http.host` to the https URL in the registry config.',
  },
  'token-lifetime': {
    title:
      'The registry answered 401 partway through the push: the token expired before the push finished, because its lifetime is too short.',
    fix: "Raise the token lifetime on the token service (for example distribution's token issuer expiration) above the time a push takes.",
  },
  'proxy-timeout': {
    title:
      'A proxy timed out waiting for the registry (522 or 524): one request took longer than the proxy allows (Cloudflare waits 100 s).',
    fix: "Use `upload-mode: chunked` with a smaller `chunk-size` so each request finishes in time, or raise the proxy's timeout.",
  },
  'storage-error': {
    title:
      'The registry kept failing with a server error: most likely its storage backend is failing.',
    fix: "Check the registry's log for storage errors (permissions, a full disk, bucket credentials) at the time of the push.",
  },
  credentials: {
    title:
      'The registry refused the credentials (401 or 403 at the start): they are wrong, or they lack push permission on the repository.',
    fix: 'Check `username` and `password` (or the docker login that wrote them), and that the token or account may push to this repository.',
  },
  certificate: {
    title: "The registry's TLS certificate is not trusted.",
    fix: 'Set `ca-file` (or NODE_EXTRA_CA_CERTS) to the CA that signed it, or `insecure: true` for a test registry.',
  },
  'connection-reset': {
    title:
      'The connection kept breaking during the upload: a proxy or load balancer between the runner and the registry cuts long or large requests.',
    fix: "Use `upload-mode: chunked` with a smaller `chunk-size`, and check the proxy's body size and idle timeout settings.",
  },
  unknown: {
    title: 'No known cause matches what the registry answered.',
    fix: "Read the registry's answer above and its log; rerun with `--verbose` (CLI) or step debug logging to see every request.",
  },
};

export interface CauseEvidence {
  errors: readonly RegistryError[];
  /** The blob's final error, when it was not the registry's (a corrupt local file). */
  localError?: unknown;
  vanishedAfterAck?: boolean;
  observations?: RegistryObservations;
  phase?: Phase;
}

const isHtmlFrom = (e: RegistryError, name: RegExp): boolean =>
  name.test(e.headers.server ?? '') || name.test(e.bodySnippet ?? '');

function cause(id: CauseId): Cause {
  return { id, ...CAUSES[id] };
}

/** An upload session the registry no longer knows: by its error code, or a 404 on a session URL. */
function lostSession(e: RegistryError): boolean {
  if (e.hasCode('BLOB_UPLOAD_UNKNOWN', 'BLOB_UPLOAD_INVALID')) return true;
  return e.status === 404 && e.method !== 'HEAD' && /\/blobs\/uploads\/[^/?]+/.test(e.url);
}

/** The most probable cause for a failure, from what was seen; the first rule that matches wins. */
export function probableCause(evidence: CauseEvidence): Cause {
  const { errors, observations } = evidence;
  const last = errors[errors.length - 1];
  if (
    evidence.localError instanceof CorruptBlobError ||
    errors.some((e) => e.hasCode('DIGEST_INVALID'))
  )
    return cause('corrupt-layout');
  const tooLarge = errors.find((e) => e.status === 413);
  if (tooLarge) {
    if (isHtmlFrom(tooLarge, /cloudflare/i) || tooLarge.headers['cf-ray'])
      return cause('cloudflare-body-limit');
    if (isHtmlFrom(tooLarge, /nginx/i)) return cause('nginx-body-limit');
    return cause('proxy-body-limit');
  }
  if (evidence.vanishedAfterAck) return cause('vanished-after-ack');
  if (errors.filter(lostSession).length >= 2) return cause('no-shared-secret');
  if (observations?.locationDowngraded) return cause('location-downgrade');
  if (
    (last?.status === 401 || last?.status === 403) &&
    /insufficient_scope/.test(last.headers['www-authenticate'] ?? '')
  ) {
    return cause('credentials');
  }
  if (
    last?.status === 401 &&
    (evidence.phase !== 'auth' || (observations?.unauthorizedMidPush ?? 0) > 0)
  )
    return cause('token-lifetime');
  if (errors.some((e) => e.status === 522 || e.status === 524)) return cause('proxy-timeout');
  if (last?.status !== undefined && last.status >= 500) return cause('storage-error');
  if (last?.status === 401 || last?.status === 403) return cause('credentials');
  const network = last?.networkCode ?? '';
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/i.test(network)) return cause('certificate');
  if (network) return cause('connection-reset');
  return cause('unknown');
}

/** Evidence for a failure that is not one blob's: the push-level error. */
export function errorsOf(error: unknown): RegistryError[] {
  return error instanceof RegistryError ? [error] : [];
}

/** The probable cause of one failed blob in one repository. */
export function blobCause(blob: BlobOutcome, target: TargetResult): Cause {
  return probableCause({
    errors: blob.errors,
    localError: blob.error,
    vanishedAfterAck: blob.vanishedAfterAck,
    observations: target.observations,
    phase: 'blobs',
  });
}
