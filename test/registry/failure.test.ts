import { describe, expect, it } from 'vitest';
import { RegistryError } from '../../src/registry/errors.js';
import {
  type Action,
  type CauseId,
  type Failure,
  QUICK_RETRIES,
  type Situation,
  classify,
  classifyError,
  failureOf,
} from '../../src/registry/failure.js';
import { CorruptBlobError } from '../../src/oci/blob-reader.js';
import { InputError } from '../../src/util/errors.js';

const MiB = 1 << 20;
const f = (init: Partial<Failure> & Pick<Failure, 'op'>): Failure => ({
  codes: [],
  text: '',
  bodyIncomplete: false,
  cfRay: false,
  ...init,
});
const budget: Situation = { budgetLeft: 3, sessionsLeft: 3, reuploadsLeft: 2, lagLeft: 3 };
const auto: Situation = { ...budget, mayChunk: true, blobSize: 100 * MiB, chunkSize: 50 * MiB };
const chunking: Situation = { ...budget, chunked: true, chunkSize: 4 * MiB, chunkFloor: 64 << 10 };
const atFloor: Situation = { ...chunking, chunkSize: 64 << 10 };
const spent: Situation = { budgetLeft: 0, sessionsLeft: 0 };

// [what, failure, situation, action, cause]
const rows: [string, Failure, Situation, Action, CauseId][] = [
  // Answers oci-push refuses to follow: their own causes, never retried.
  [
    'blob HEAD redirected in a loop',
    f({ op: 'exists', refused: 'redirect-loop' }),
    budget,
    'fail-blob',
    'redirect-loop',
  ],
  [
    'blob HEAD redirected to file:',
    f({ op: 'verify', refused: 'redirect-scheme' }),
    budget,
    'fail-blob',
    'redirect-scheme',
  ],
  [
    'plain-http realm beside an https registry',
    f({ op: 'token', refused: 'realm-insecure' }),
    budget,
    'fail-push',
    'realm-insecure',
  ],
  [
    'realm that is not http(s)',
    f({ op: 'token', refused: 'realm-invalid' }),
    budget,
    'fail-push',
    'realm-invalid',
  ],
  [
    'a session lost at the age the host keeps sessions',
    f({ op: 'patch', status: 404, codes: ['BLOB_UPLOAD_UNKNOWN'] }),
    { ...budget, lostSessions: 1, sessionAgeMs: 61_000, sessionLifetimeMs: 60_000 },
    'restart',
    'session-expired',
  ],
  [
    'chunks too small, no grow left',
    f({ op: 'patch', status: 400, text: 'part too small' }),
    { ...chunking, growsLeft: 0 },
    'fail-blob',
    'chunk-window',
  ],
  [
    'chunks too small at the window ceiling',
    f({ op: 'patch', status: 400, text: 'part too small' }),
    { ...chunking, growsLeft: 3, chunkCeiling: 4 * MiB },
    'fail-blob',
    'chunk-window',
  ],
  [
    'an upload Location on a host the runner cannot reach: its path on the own host next',
    f({ op: 'patch', networkCode: 'ECONNREFUSED' }),
    { ...budget, foreignLocation: true },
    'own-host',
    'location-unreachable',
  ],
  [
    "that path is no session on the registry's own host either",
    f({ op: 'put-blob', status: 404 }),
    { ...budget, onOwnHost: true },
    'fail-push',
    'location-unreachable',
  ],
  // Verification after a commit.
  [
    '404 after a commit, replicas may lag',
    f({ op: 'verify', status: 404 }),
    budget,
    'lag',
    'vanished-after-ack',
  ],
  [
    '404 after the lag HEADs: uploaded again',
    f({ op: 'verify', status: 404 }),
    { ...budget, lagLeft: 0 },
    'reupload',
    'vanished-after-ack',
  ],
  [
    'another size after a commit',
    f({ op: 'verify', status: 200, mismatch: true }),
    budget,
    'reupload',
    'verify-mismatch',
  ],
  [
    'lost again: upload it again (the machine stops at its re-upload bound)',
    f({ op: 'verify', status: 404 }),
    { ...budget, lagLeft: 0, reuploadsLeft: 0 },
    'reupload',
    'vanished-after-ack',
  ],
  [
    'a mount that does not read back',
    f({ op: 'mount-verify', status: 404 }),
    budget,
    'plain-upload',
    'unknown',
  ],
  // A registry that stopped answering within the deadline.
  [
    'no answer to a commit',
    f({ op: 'commit', ended: 'deadline' }),
    budget,
    'retry',
    'registry-stalled',
  ],
  [
    'no answer to a PATCH',
    f({ op: 'patch', ended: 'deadline' }),
    budget,
    'resume',
    'registry-stalled',
  ],
  [
    'no answer: again, whatever the budget (the one who tries again charges it)',
    f({ op: 'commit', ended: 'deadline' }),
    spent,
    'retry',
    'registry-stalled',
  ],
  [
    'refused connection: a quick retry, whatever the budget (the caller charges it)',
    f({ op: 'ping', networkCode: 'ECONNREFUSED' }),
    { budgetLeft: 0 },
    'retry',
    'connection-refused',
  ],
  // Network, before any answer.
  [
    'refused at ping',
    f({ op: 'ping', networkCode: 'ECONNREFUSED' }),
    budget,
    'retry',
    'connection-refused',
  ],
  [
    'refused after the quick retries',
    f({ op: 'ping', networkCode: 'ECONNREFUSED' }),
    { ...budget, attempt: QUICK_RETRIES },
    'fail-push',
    'connection-refused',
  ],
  [
    'refused on a blob HEAD, quick retries spent',
    f({ op: 'exists', networkCode: 'ECONNREFUSED' }),
    { attempt: QUICK_RETRIES },
    'fail-blob',
    'connection-refused',
  ],
  [
    'a name that does not resolve',
    f({ op: 'ping', networkCode: 'ENOTFOUND' }),
    budget,
    'fail-push',
    'dns-failure',
  ],
  [
    'DNS temporarily failing',
    f({ op: 'ping', networkCode: 'EAI_AGAIN' }),
    budget,
    'retry',
    'dns-failure',
  ],
  [
    'connect timeout',
    f({ op: 'ping', networkCode: 'UND_ERR_CONNECT_TIMEOUT' }),
    budget,
    'retry',
    'connect-timeout',
  ],
  [
    'connect timeout: again, whatever the budget',
    f({ op: 'ping', networkCode: 'UND_ERR_CONNECT_TIMEOUT' }),
    spent,
    'retry',
    'connect-timeout',
  ],
  [
    'unknown CA',
    f({ op: 'ping', networkCode: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }),
    budget,
    'fail-push',
    'tls-untrusted',
  ],
  [
    'expired certificate',
    f({ op: 'ping', networkCode: 'CERT_HAS_EXPIRED' }),
    budget,
    'fail-push',
    'tls-untrusted',
  ],
  [
    'self-signed',
    f({ op: 'ping', networkCode: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
    budget,
    'fail-push',
    'tls-self-signed',
  ],
  [
    'self-signed in chain',
    f({ op: 'ping', networkCode: 'SELF_SIGNED_CERT_IN_CHAIN' }),
    budget,
    'fail-push',
    'tls-self-signed',
  ],
  [
    'name mismatch',
    f({ op: 'ping', networkCode: 'ERR_TLS_CERT_ALTNAME_INVALID' }),
    budget,
    'fail-push',
    'tls-name-mismatch',
  ],
  [
    'http spoken on the https port',
    f({ op: 'ping', networkCode: 'ERR_SSL_WRONG_VERSION_NUMBER' }),
    budget,
    'fail-push',
    'http-over-https',
  ],
  ['EPROTO', f({ op: 'ping', networkCode: 'EPROTO' }), budget, 'fail-push', 'http-over-https'],
  [
    'reset mid-body, auto, blob larger than a chunk',
    f({ op: 'put-blob', networkCode: 'ECONNRESET', bodyIncomplete: true }),
    auto,
    'chunk',
    'connection-reset',
  ],
  [
    'reset mid-body, blob not larger than a chunk',
    f({ op: 'put-blob', networkCode: 'ECONNRESET', bodyIncomplete: true }),
    { ...auto, blobSize: 10 * MiB },
    'restart',
    'connection-reset',
  ],
  [
    'reset mid-body, monolithic mode',
    f({ op: 'put-blob', networkCode: 'EPIPE', bodyIncomplete: true }),
    { ...budget, blobSize: 100 * MiB, chunkSize: MiB },
    'restart',
    'connection-reset',
  ],
  [
    'reset mid-PATCH',
    f({ op: 'patch', networkCode: 'ECONNRESET', bodyIncomplete: true }),
    chunking,
    'resume',
    'connection-reset',
  ],
  [
    'reset mid-PATCH: resume, whatever the budget',
    f({ op: 'patch', networkCode: 'ECONNRESET', bodyIncomplete: true }),
    { ...chunking, budgetLeft: 0 },
    'resume',
    'connection-reset',
  ],
  [
    'PUT dropped after its body',
    f({ op: 'put-blob', networkCode: 'ECONNRESET' }),
    auto,
    'restart',
    'connection-dropped',
  ],
  [
    'PATCH dropped after its body',
    f({ op: 'patch', networkCode: 'UND_ERR_SOCKET' }),
    chunking,
    'resume',
    'connection-dropped',
  ],
  [
    'HEAD dropped',
    f({ op: 'exists', networkCode: 'ECONNRESET' }),
    budget,
    'retry',
    'connection-dropped',
  ],
  [
    'manifest PUT dropped: again, whatever the budget',
    f({ op: 'manifest', networkCode: 'ECONNRESET' }),
    spent,
    'retry',
    'connection-dropped',
  ],
  [
    'an unexpected network code',
    f({ op: 'ping', networkCode: 'ESOMETHING' }),
    budget,
    'fail-push',
    'unknown',
  ],

  // Answers: the content and the repository.
  [
    'DIGEST_INVALID, the local file not hashed or corrupt',
    f({ op: 'put-blob', status: 400, codes: ['DIGEST_INVALID'] }),
    auto,
    'fail-blob',
    'corrupt-layout',
  ],
  [
    'DIGEST_INVALID, the local file intact: the bytes changed on the way',
    f({ op: 'put-blob', status: 400, codes: ['DIGEST_INVALID'] }),
    { ...auto, fileIntact: true },
    'restart',
    'bytes-changed',
  ],
  [
    'NAME_UNKNOWN',
    f({ op: 'open', status: 404, codes: ['NAME_UNKNOWN'] }),
    budget,
    'fail-push',
    'repository-unknown',
  ],
  [
    'lost blob at the manifest PUT',
    f({ op: 'manifest', status: 400, codes: ['MANIFEST_BLOB_UNKNOWN'] }),
    budget,
    'reupload',
    'vanished-after-ack',
  ],
  [
    'lost blob: upload it again, whatever the budget',
    f({ op: 'manifest', status: 400, codes: ['MANIFEST_BLOB_UNKNOWN'] }),
    spent,
    'reupload',
    'vanished-after-ack',
  ],

  // Auth.
  ['401 at the start', f({ op: 'authorize', status: 401 }), budget, 'fail-push', 'credentials'],
  [
    '401 from the token service',
    f({ op: 'token', status: 401 }),
    budget,
    'fail-push',
    'credentials',
  ],
  [
    '401 mid-push, after the refresh',
    f({ op: 'patch', status: 401 }),
    { ...chunking, authorized: true },
    'fail-push',
    'token-lifetime',
  ],
  ['403 at the start', f({ op: 'authorize', status: 403 }), budget, 'fail-push', 'credentials'],
  [
    '403 mid-push',
    f({ op: 'open', status: 403 }),
    { ...budget, authorized: true },
    'fail-push',
    'permission-denied',
  ],
  [
    'insufficient_scope mid-push',
    f({ op: 'open', status: 401, wwwAuthenticate: 'Bearer error="insufficient_scope"' }),
    { ...budget, authorized: true },
    'fail-push',
    'permission-denied',
  ],
  [
    '403 read only (Harbor)',
    f({ op: 'open', status: 403, text: 'DENIED The system is in read only mode' }),
    { ...budget, authorized: true },
    'fail-push',
    'read-only',
  ],
  [
    'mount refused with 401 (Harbor)',
    f({ op: 'mount', status: 401 }),
    { ...budget, authorized: true },
    'plain-upload',
    'mount-refused',
  ],
  [
    'mount refused with 400 (old Quay)',
    f({ op: 'mount', status: 400 }),
    budget,
    'plain-upload',
    'mount-refused',
  ],
  [
    'mount refused with 404',
    f({ op: 'mount', status: 404 }),
    budget,
    'plain-upload',
    'mount-refused',
  ],
  [
    'a registry that sends an invalid digest: refused, never retried',
    f({ op: 'verify', refused: 'invalid-digest' }),
    budget,
    'fail-blob',
    'invalid-digest',
  ],

  // Read-only and manifest refusals.
  [
    '405 to POST (maintenance mode)',
    f({ op: 'open', status: 405 }),
    budget,
    'fail-push',
    'read-only',
  ],
  [
    '405 to a manifest PUT (ECR)',
    f({ op: 'manifest', status: 405 }),
    budget,
    'fail-push',
    'manifest-refused',
  ],
  [
    '413 to a manifest PUT',
    f({ op: 'manifest', status: 413 }),
    budget,
    'fail-push',
    'manifest-refused',
  ],
  [
    'MANIFEST_INVALID',
    f({ op: 'manifest', status: 400, codes: ['MANIFEST_INVALID'] }),
    budget,
    'fail-push',
    'manifest-refused',
  ],
  [
    '409 immutable tag (Quay)',
    f({ op: 'manifest', status: 409 }),
    budget,
    'fail-push',
    'tag-immutable',
  ],
  [
    '412 immutable tag (Harbor)',
    f({ op: 'manifest', status: 412 }),
    budget,
    'fail-push',
    'tag-immutable',
  ],

  // Body size.
  [
    '413 from Cloudflare, auto',
    f({ op: 'put-blob', status: 413, cfRay: true }),
    auto,
    'chunk',
    'cloudflare-body-limit',
  ],
  [
    '413 from nginx, auto',
    f({ op: 'put-blob', status: 413, server: 'nginx/1.22' }),
    auto,
    'chunk',
    'nginx-body-limit',
  ],
  [
    '413 from something, monolithic mode',
    f({ op: 'put-blob', status: 413 }),
    budget,
    'fail-blob',
    'proxy-body-limit',
  ],
  [
    '413 to a chunk above the floor',
    f({ op: 'patch', status: 413, server: 'nginx' }),
    chunking,
    'shrink',
    'nginx-body-limit',
  ],
  [
    '413 to a chunk at the floor',
    f({ op: 'patch', status: 413 }),
    atFloor,
    'fail-blob',
    'body-limit-at-floor',
  ],
  [
    'GHCR 416 "too large"',
    f({
      op: 'patch',
      status: 416,
      text: 'the request body is too large and exceeds the maximum permissible limit of 4.00MiB',
    }),
    chunking,
    'shrink',
    'proxy-body-limit',
  ],
  [
    'R2 RANGE_ERROR (chunk too small)',
    f({ op: 'patch', status: 416, codes: ['RANGE_ERROR'] }),
    chunking,
    'grow',
    'chunk-window',
  ],
  [
    '416 range mismatch',
    f({ op: 'patch', status: 416, codes: ['RANGE_INVALID'] }),
    chunking,
    'resume',
    'lost-session',
  ],

  // Sessions.
  [
    'BLOB_UPLOAD_UNKNOWN once',
    f({ op: 'patch', status: 404, codes: ['BLOB_UPLOAD_UNKNOWN'] }),
    chunking,
    'restart',
    'lost-session',
  ],
  [
    'BLOB_UPLOAD_INVALID again',
    f({ op: 'commit', status: 400, codes: ['BLOB_UPLOAD_INVALID'] }),
    { ...chunking, lostSessions: 1 },
    'restart',
    'no-shared-secret',
  ],
  [
    'bare 404 on the session status, a third loss',
    f({ op: 'status', status: 404 }),
    { ...chunking, lostSessions: 2 },
    'fail-push',
    'no-shared-secret',
  ],
  [
    'DIGEST_INVALID at the commit after a resume (a misread Range), the local file intact',
    f({ op: 'commit', status: 400, codes: ['DIGEST_INVALID'] }),
    { ...chunking, resumed: true, fileIntact: true },
    'restart',
    'lost-session',
  ],
  [
    'DIGEST_INVALID at the commit after a resume, the local file corrupt',
    f({ op: 'commit', status: 400, codes: ['DIGEST_INVALID'] }),
    { ...chunking, resumed: true },
    'fail-blob',
    'corrupt-layout',
  ],
  [
    '401 at the start, no credentials found',
    f({ op: 'authorize', status: 401 }),
    { ...budget, anonymous: true },
    'fail-push',
    'no-credentials',
  ],
  [
    'a single body refused as BLOB_UNKNOWN (old Artifactory), auto',
    f({ op: 'put-blob', status: 404, codes: ['BLOB_UNKNOWN'] }),
    auto,
    'chunk',
    'unknown',
  ],
  [
    'ECR part too small (400)',
    f({
      op: 'patch',
      status: 400,
      text: 'LayerPartTooSmallException: All layer parts except the last part should be at least 5MB',
    }),
    chunking,
    'grow',
    'chunk-window',
  ],
  [
    'lost session: a new one, whatever is left (the machine counts sessions)',
    f({ op: 'patch', status: 404 }),
    { ...chunking, sessionsLeft: 0 },
    'restart',
    'lost-session',
  ],

  // Transient.
  ['429', f({ op: 'open', status: 429 }), budget, 'retry', 'rate-limited'],
  [
    '429: again, whatever the budget',
    f({ op: 'open', status: 429 }),
    spent,
    'retry',
    'rate-limited',
  ],
  ['524 to a large body, auto', f({ op: 'put-blob', status: 524 }), auto, 'chunk', 'proxy-timeout'],
  [
    '522 to a small body',
    f({ op: 'put-blob', status: 522 }),
    { ...auto, blobSize: MiB },
    'restart',
    'proxy-timeout',
  ],
  ['520 to a HEAD', f({ op: 'verify', status: 520 }), budget, 'retry', 'proxy-timeout'],
  ['500 to a PATCH', f({ op: 'patch', status: 500 }), chunking, 'resume', 'storage-error'],
  [
    '500 to a PATCH: resume, whatever the budget',
    f({ op: 'patch', status: 500 }),
    { ...chunking, budgetLeft: 0 },
    'resume',
    'storage-error',
  ],
  [
    '503 to the session status',
    f({ op: 'status', status: 503 }),
    chunking,
    'retry',
    'storage-error',
  ],
  ['502 to a single body', f({ op: 'put-blob', status: 502 }), auto, 'restart', 'storage-error'],
  ['500 to a commit', f({ op: 'commit', status: 500 }), chunking, 'retry', 'storage-error'],
  ['503 to the manifest PUT', f({ op: 'manifest', status: 503 }), budget, 'retry', 'storage-error'],
  [
    '503 at ping: again, whatever the budget (withRetry charges it)',
    f({ op: 'ping', status: 503 }),
    spent,
    'retry',
    'storage-error',
  ],
  ['an unexpected 4xx on a blob', f({ op: 'open', status: 418 }), budget, 'fail-blob', 'unknown'],
];

describe('classify: one decision and one cause per failure', () => {
  it.each(rows)('%s', (_what, failure, situation, action, cause) => {
    expect(classify(failure, situation)).toMatchObject({ action, cause });
  });

  it('marks refused connections for quick retries', () => {
    expect(classify(f({ op: 'ping', networkCode: 'ECONNREFUSED' }), budget).quick).toBe(true);
  });

  it('never advises chunks for a failure chunks cannot help', () => {
    const notBody: Failure[] = [
      f({ op: 'ping', networkCode: 'ECONNREFUSED' }),
      f({ op: 'ping', networkCode: 'ENOTFOUND' }),
      f({ op: 'ping', networkCode: 'ERR_SSL_WRONG_VERSION_NUMBER' }),
      f({ op: 'authorize', status: 401 }),
      f({ op: 'patch', status: 413 }),
    ];
    for (const failure of notBody) {
      const { action, cause } = classify(failure, atFloor);
      expect(action).not.toBe('chunk');
      expect(['connection-reset', 'proxy-timeout']).not.toContain(cause);
    }
  });
});

describe('classifyError', () => {
  it('reads the step and the registry answer from a RegistryError', () => {
    const error = new RegistryError({
      method: 'PUT',
      op: 'put-blob',
      url: 'http://r/v2/a/blobs/uploads/1',
      status: 413,
      headers: { server: 'cloudflare' },
    });
    expect(failureOf(error)).toMatchObject({ op: 'put-blob', status: 413, server: 'cloudflare' });
    expect(classifyError(error, auto)).toEqual({ action: 'chunk', cause: 'cloudflare-body-limit' });
  });

  it('finds the proxy in an HTML page when no server header came', () => {
    const error = new RegistryError({
      method: 'PUT',
      op: 'put-blob',
      url: 'http://r/',
      status: 413,
      bodySnippet: '<html><center>nginx</center></html>',
    });
    expect(classifyError(error, { mayChunk: false }).cause).toBe('nginx-body-limit');
  });

  it('a corrupt local blob fails that blob; bad input fails the push', () => {
    expect(classifyError(new CorruptBlobError('x'))).toEqual({
      action: 'fail-blob',
      cause: 'corrupt-layout',
    });
    expect(classifyError(new InputError('x'))).toEqual({ action: 'fail-push', cause: 'input' });
    expect(classifyError('weird')).toEqual({ action: 'fail-push', cause: 'unknown' });
  });
});
