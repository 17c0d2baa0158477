import { describe, expect, it } from 'vitest';
import { CorruptBlobError } from '../../src/oci/blob-reader.js';
import { RegistryError } from '../../src/registry/errors.js';
import {
  type CauseId,
  type Failure,
  type FaultKind,
  type Sent,
  faultOf,
  failureOf,
  interpret,
} from '../../src/registry/failure.js';
import { CancelledError } from '../../src/util/cancel.js';
import { InputError } from '../../src/util/errors.js';

const f = (init: Partial<Failure> & Pick<Failure, 'op'>): Failure => ({
  codes: [],
  text: '',
  bodyIncomplete: false,
  cfRay: false,
  ...init,
});
const accepted: Partial<Sent> = { credentials: 'accepted' };

// (answer, operation) → (kind, cause): what one answer to one request means, with no history.
// [what, failure, the request as sent besides its op, kind, cause]
const rows: [string, Failure, Partial<Sent>, FaultKind, CauseId][] = [
  // Answers oci-push refuses to follow: their own causes, never retried.
  [
    'blob HEAD redirected in a loop',
    f({ op: 'exists', refused: 'redirect-loop' }),
    {},
    'final',
    'redirect-loop',
  ],
  [
    'blob HEAD redirected to file:',
    f({ op: 'verify', refused: 'redirect-scheme' }),
    {},
    'final',
    'redirect-scheme',
  ],
  [
    'a digest header that is no digest',
    f({ op: 'verify', refused: 'invalid-digest' }),
    {},
    'final',
    'invalid-digest',
  ],
  [
    'plain-http realm beside an https registry',
    f({ op: 'token', refused: 'realm-insecure' }),
    {},
    'fatal',
    'realm-insecure',
  ],
  [
    'realm that is not http(s)',
    f({ op: 'token', refused: 'realm-invalid' }),
    {},
    'fatal',
    'realm-invalid',
  ],
  ['the run cancelled', f({ op: 'patch', ended: 'cancelled' }), {}, 'fatal', 'cancelled'],
  // Proxies and their tunnels.
  [
    'a proxy asking for credentials',
    f({ op: 'ping', tunnel: { failure: 'status', status: 407 } }),
    {},
    'auth',
    'proxy-auth',
  ],
  [
    'a proxy refusing the tunnel',
    f({ op: 'ping', tunnel: { failure: 'status', status: 403 } }),
    {},
    'fatal',
    'proxy-refused',
  ],
  [
    'a tunnel closed without an answer',
    f({ op: 'exists', tunnel: { failure: 'closed' } }),
    {},
    'transient',
    'proxy-tunnel',
  ],
  [
    'a proxy that cannot be reached',
    f({ op: 'ping', networkCode: 'ECONNREFUSED', proxy: 'http://p:3128' }),
    {},
    'fatal',
    'proxy-unreachable',
  ],
  ['407 from an http proxy', f({ op: 'ping', status: 407 }), {}, 'auth', 'proxy-auth'],
  // Upload Locations.
  [
    'a Location on a host the runner cannot reach',
    f({ op: 'patch', networkCode: 'ECONNREFUSED' }),
    { location: 'foreign' },
    'location-unreachable',
    'location-unreachable',
  ],
  [
    'a Location unreachable, the request not an upload',
    f({ op: 'exists', networkCode: 'ECONNREFUSED' }),
    { location: 'foreign' },
    'transient',
    'connection-refused',
  ],
  [
    "its path on the registry's own host is no session either",
    f({ op: 'put-blob', status: 404 }),
    { location: 'moved' },
    'fatal',
    'location-unreachable',
  ],
  // Read back after a commit or a mount.
  ['404 after a commit', f({ op: 'verify', status: 404 }), {}, 'vanished', 'vanished-after-ack'],
  [
    'another size after a commit',
    f({ op: 'verify', status: 200, mismatch: true }),
    {},
    'vanished',
    'verify-mismatch',
  ],
  [
    'a mount that does not read back',
    f({ op: 'mount-verify', status: 404 }),
    {},
    'mount-refused',
    'unknown',
  ],
  // No answer within the deadline, and networks.
  [
    'no answer to a commit',
    f({ op: 'commit', ended: 'deadline' }),
    {},
    'transient',
    'registry-stalled',
  ],
  [
    'no answer to a PATCH',
    f({ op: 'patch', ended: 'deadline' }),
    {},
    'transient',
    'registry-stalled',
  ],
  [
    'refused at ping',
    f({ op: 'ping', networkCode: 'ECONNREFUSED' }),
    {},
    'transient',
    'connection-refused',
  ],
  [
    'no route to the host',
    f({ op: 'exists', networkCode: 'EHOSTUNREACH' }),
    {},
    'transient',
    'connection-refused',
  ],
  [
    'a name that does not resolve',
    f({ op: 'ping', networkCode: 'ENOTFOUND' }),
    {},
    'fatal',
    'dns-failure',
  ],
  [
    'DNS temporarily failing',
    f({ op: 'ping', networkCode: 'EAI_AGAIN' }),
    {},
    'transient',
    'dns-failure',
  ],
  [
    'connect timeout',
    f({ op: 'ping', networkCode: 'UND_ERR_CONNECT_TIMEOUT' }),
    {},
    'transient',
    'connect-timeout',
  ],
  [
    'unknown CA',
    f({ op: 'ping', networkCode: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }),
    {},
    'fatal',
    'tls-untrusted',
  ],
  [
    'expired certificate',
    f({ op: 'ping', networkCode: 'CERT_HAS_EXPIRED' }),
    {},
    'fatal',
    'tls-untrusted',
  ],
  [
    'self-signed',
    f({ op: 'ping', networkCode: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
    {},
    'fatal',
    'tls-self-signed',
  ],
  [
    'self-signed in chain',
    f({ op: 'ping', networkCode: 'SELF_SIGNED_CERT_IN_CHAIN' }),
    {},
    'fatal',
    'tls-self-signed',
  ],
  [
    'name mismatch',
    f({ op: 'ping', networkCode: 'ERR_TLS_CERT_ALTNAME_INVALID' }),
    {},
    'fatal',
    'tls-name-mismatch',
  ],
  [
    'http spoken on the https port',
    f({ op: 'ping', networkCode: 'ERR_SSL_WRONG_VERSION_NUMBER' }),
    {},
    'fatal',
    'http-over-https',
  ],
  ['EPROTO', f({ op: 'ping', networkCode: 'EPROTO' }), {}, 'fatal', 'http-over-https'],
  [
    'reset mid-body of a single PUT',
    f({ op: 'put-blob', networkCode: 'ECONNRESET', bodyIncomplete: true }),
    {},
    'body-cut',
    'connection-reset',
  ],
  [
    'broken pipe mid-PATCH',
    f({ op: 'patch', networkCode: 'EPIPE', bodyIncomplete: true }),
    {},
    'body-cut',
    'connection-reset',
  ],
  [
    'PUT dropped after its body',
    f({ op: 'put-blob', networkCode: 'ECONNRESET' }),
    {},
    'transient',
    'connection-dropped',
  ],
  [
    'PATCH dropped after its body',
    f({ op: 'patch', networkCode: 'UND_ERR_SOCKET' }),
    {},
    'transient',
    'connection-dropped',
  ],
  [
    'HEAD dropped',
    f({ op: 'exists', networkCode: 'ECONNRESET' }),
    {},
    'transient',
    'connection-dropped',
  ],
  [
    'manifest PUT dropped',
    f({ op: 'manifest', networkCode: 'ECONNRESET' }),
    {},
    'transient',
    'connection-dropped',
  ],
  [
    'a connection that broke without a code',
    f({ op: 'exists' }),
    {},
    'transient',
    'connection-dropped',
  ],
  [
    'an unexpected network code',
    f({ op: 'ping', networkCode: 'ESOMETHING' }),
    {},
    'final',
    'unknown',
  ],
  // The content and the repository.
  [
    'DIGEST_INVALID to a single body',
    f({ op: 'put-blob', status: 400, codes: ['DIGEST_INVALID'] }),
    {},
    'digest-refused',
    'bytes-changed',
  ],
  [
    'DIGEST_INVALID at the commit',
    f({ op: 'commit', status: 400, codes: ['DIGEST_INVALID'] }),
    {},
    'digest-refused',
    'bytes-changed',
  ],
  [
    'DIGEST_INVALID elsewhere',
    f({ op: 'mount', status: 400, codes: ['DIGEST_INVALID'] }),
    {},
    'final',
    'corrupt-layout',
  ],
  [
    'NAME_UNKNOWN',
    f({ op: 'open', status: 404, codes: ['NAME_UNKNOWN'] }),
    {},
    'fatal',
    'repository-unknown',
  ],
  [
    'a lost blob at the manifest PUT',
    f({ op: 'manifest', status: 400, codes: ['MANIFEST_BLOB_UNKNOWN'] }),
    {},
    'vanished',
    'vanished-after-ack',
  ],
  [
    'a foreign blob at the manifest PUT',
    f({ op: 'manifest', status: 400, codes: ['MANIFEST_BLOB_UNKNOWN'] }),
    { foreignBlob: true },
    'fatal',
    'manifest-refused',
  ],
  // Auth.
  [
    '401 at the start',
    f({ op: 'authorize', status: 401 }),
    { credentials: 'offered' },
    'auth',
    'credentials',
  ],
  [
    '401 at the start, no credentials found',
    f({ op: 'authorize', status: 401 }),
    { credentials: 'none' },
    'auth',
    'no-credentials',
  ],
  ['401 from the token service', f({ op: 'token', status: 401 }), {}, 'auth', 'credentials'],
  [
    '401 mid-push, after the refresh',
    f({ op: 'patch', status: 401 }),
    accepted,
    'auth',
    'token-lifetime',
  ],
  ['403 at the start', f({ op: 'authorize', status: 403 }), {}, 'auth', 'credentials'],
  ['403 mid-push', f({ op: 'open', status: 403 }), accepted, 'auth', 'permission-denied'],
  [
    'insufficient_scope mid-push',
    f({ op: 'open', status: 401, wwwAuthenticate: 'Bearer error="insufficient_scope"' }),
    accepted,
    'auth',
    'permission-denied',
  ],
  [
    '403 read only (Harbor)',
    f({ op: 'open', status: 403, text: 'DENIED The system is in read only mode' }),
    accepted,
    'fatal',
    'read-only',
  ],
  [
    'mount refused with 401 (Harbor)',
    f({ op: 'mount', status: 401 }),
    accepted,
    'mount-refused',
    'mount-refused',
  ],
  [
    'mount refused with 400 (old Quay)',
    f({ op: 'mount', status: 400 }),
    {},
    'mount-refused',
    'mount-refused',
  ],
  ['mount refused with 404', f({ op: 'mount', status: 404 }), {}, 'mount-refused', 'mount-refused'],
  // Read-only and manifest refusals.
  ['405 to POST (maintenance mode)', f({ op: 'open', status: 405 }), {}, 'fatal', 'read-only'],
  [
    '405 to a manifest PUT (ECR)',
    f({ op: 'manifest', status: 405 }),
    {},
    'fatal',
    'manifest-refused',
  ],
  ['413 to a manifest PUT', f({ op: 'manifest', status: 413 }), {}, 'fatal', 'manifest-refused'],
  [
    'MANIFEST_INVALID',
    f({ op: 'manifest', status: 400, codes: ['MANIFEST_INVALID'] }),
    {},
    'fatal',
    'manifest-refused',
  ],
  ['409 immutable tag (Quay)', f({ op: 'manifest', status: 409 }), {}, 'fatal', 'tag-immutable'],
  ['412 immutable tag (Harbor)', f({ op: 'manifest', status: 412 }), {}, 'fatal', 'tag-immutable'],
  // Body size.
  [
    '413 from Cloudflare',
    f({ op: 'put-blob', status: 413, cfRay: true }),
    {},
    'body-too-large',
    'cloudflare-body-limit',
  ],
  [
    '413 from nginx',
    f({ op: 'put-blob', status: 413, server: 'nginx/1.22' }),
    {},
    'body-too-large',
    'nginx-body-limit',
  ],
  ['413 from something', f({ op: 'patch', status: 413 }), {}, 'body-too-large', 'proxy-body-limit'],
  [
    'GHCR 416 "too large"',
    f({
      op: 'patch',
      status: 416,
      text: 'the request body is too large and exceeds the maximum permissible limit of 4.00MiB',
    }),
    {},
    'body-too-large',
    'proxy-body-limit',
  ],
  [
    'R2 RANGE_ERROR (chunk too small)',
    f({ op: 'patch', status: 416, codes: ['RANGE_ERROR'] }),
    {},
    'chunk-window',
    'chunk-window',
  ],
  [
    'ECR part too small (400)',
    f({
      op: 'patch',
      status: 400,
      text: 'LayerPartTooSmallException: All layer parts except the last part should be at least 5MB',
    }),
    {},
    'chunk-window',
    'chunk-window',
  ],
  [
    '416 range mismatch',
    f({ op: 'patch', status: 416, codes: ['RANGE_INVALID'] }),
    {},
    'range-mismatch',
    'lost-session',
  ],
  [
    'a single body refused as BLOB_UNKNOWN (old Artifactory)',
    f({ op: 'put-blob', status: 404, codes: ['BLOB_UNKNOWN'] }),
    {},
    'single-body-refused',
    'unknown',
  ],
  // Sessions.
  [
    'BLOB_UPLOAD_UNKNOWN to a PATCH',
    f({ op: 'patch', status: 404, codes: ['BLOB_UPLOAD_UNKNOWN'] }),
    {},
    'session-gone',
    'lost-session',
  ],
  [
    'BLOB_UPLOAD_INVALID to a commit',
    f({ op: 'commit', status: 400, codes: ['BLOB_UPLOAD_INVALID'] }),
    {},
    'session-gone',
    'lost-session',
  ],
  [
    'bare 404 to the session status',
    f({ op: 'status', status: 404 }),
    {},
    'session-gone',
    'lost-session',
  ],
  // Busy or failing.
  ['429', f({ op: 'open', status: 429 }), {}, 'transient', 'rate-limited'],
  ['524 to a single body', f({ op: 'put-blob', status: 524 }), {}, 'body-cut', 'proxy-timeout'],
  ['522 to a PATCH', f({ op: 'patch', status: 522 }), {}, 'body-cut', 'proxy-timeout'],
  ['520 to a HEAD', f({ op: 'verify', status: 520 }), {}, 'transient', 'proxy-timeout'],
  ['500 to a PATCH', f({ op: 'patch', status: 500 }), {}, 'transient', 'storage-error'],
  ['503 to the session status', f({ op: 'status', status: 503 }), {}, 'transient', 'storage-error'],
  ['502 to a single body', f({ op: 'put-blob', status: 502 }), {}, 'transient', 'storage-error'],
  ['503 to the manifest PUT', f({ op: 'manifest', status: 503 }), {}, 'transient', 'storage-error'],
  ['408 to a HEAD', f({ op: 'exists', status: 408 }), {}, 'transient', 'storage-error'],
  ['an unexpected 4xx', f({ op: 'open', status: 418 }), {}, 'final', 'unknown'],
];

describe('interpret: (answer, operation) → (kind, cause)', () => {
  it.each(rows)('%s', (_what, failure, sent, kind, cause) => {
    expect(interpret(failure, { op: failure.op, ...sent })).toMatchObject({ kind, cause });
  });

  it('marks refused connections and failing DNS for quick retries, nothing else', () => {
    const quick = rows.filter(
      ([, failure, sent]) => interpret(failure, { op: failure.op, ...sent }).quick,
    );
    expect(quick.map(([, , , , cause]) => cause).sort()).toEqual([
      'connection-refused',
      'connection-refused',
      'connection-refused',
      'dns-failure',
    ]);
  });

  it('calls a body cut off only on requests that carry one', () => {
    for (const op of ['exists', 'verify', 'commit', 'status', 'manifest', 'ping'] as const) {
      expect(interpret(f({ op, status: 524 })).kind).toBe('transient');
      expect(interpret(f({ op, networkCode: 'ECONNRESET', bodyIncomplete: true })).kind).toBe(
        'transient',
      );
    }
  });
});

describe('faultOf', () => {
  it('reads the request and the registry answer from a RegistryError', () => {
    const error = new RegistryError({
      method: 'PUT',
      op: 'put-blob',
      url: 'http://r/v2/a/blobs/uploads/1',
      status: 413,
      headers: { server: 'cloudflare' },
    });
    expect(failureOf(error)).toMatchObject({ op: 'put-blob', status: 413, server: 'cloudflare' });
    expect(faultOf(error)).toEqual({ kind: 'body-too-large', cause: 'cloudflare-body-limit' });
  });

  it('finds the proxy in an HTML page when no server header came', () => {
    const error = new RegistryError({
      method: 'PUT',
      op: 'put-blob',
      url: 'http://r/',
      status: 413,
      bodySnippet: '<html><center>nginx</center></html>',
    });
    expect(faultOf(error).cause).toBe('nginx-body-limit');
  });

  it('the op of the request overrides the one recorded on the error', () => {
    const error = new RegistryError({
      method: 'PUT',
      op: 'put-blob',
      url: 'http://r/',
      status: 413,
    });
    expect(faultOf(error, { op: 'manifest' })).toEqual({
      kind: 'fatal',
      cause: 'manifest-refused',
    });
  });

  it('a corrupt local blob fails that blob; bad input and a cancel fail the push', () => {
    expect(faultOf(new CorruptBlobError('x'))).toEqual({ kind: 'final', cause: 'corrupt-layout' });
    expect(faultOf(new InputError('x'))).toEqual({ kind: 'fatal', cause: 'input' });
    expect(faultOf(new CancelledError('x'))).toEqual({ kind: 'fatal', cause: 'cancelled' });
    expect(faultOf('weird')).toEqual({ kind: 'fatal', cause: 'unknown' });
  });
});
