import { describe, expect, it } from 'vitest';
import { RegistryError, type RegistryErrorInit } from '../../src/registry/errors.js';
import { probableCause } from '../../src/report/causes.js';

const e = (init: Partial<RegistryErrorInit>): RegistryError =>
  new RegistryError({ method: 'PUT', url: 'https://r/v2/a/blobs/uploads/1', ...init });
const noObs = { locationDowngraded: false, unauthorizedMidPush: 0 };

describe('probableCause', () => {
  it.each([
    [
      '413 with server: cloudflare',
      [e({ status: 413, headers: { server: 'cloudflare' } })],
      'cloudflare-body-limit',
    ],
    [
      '413 HTML page naming cloudflare',
      [e({ status: 413, bodySnippet: '<html><center>cloudflare</center></html>' })],
      'cloudflare-body-limit',
    ],
    [
      '413 from nginx',
      [e({ status: 413, headers: { server: 'nginx/1.22.1' } })],
      'nginx-body-limit',
    ],
    ['413 from something else', [e({ status: 413 })], 'proxy-body-limit'],
    [
      'BLOB_UPLOAD_UNKNOWN twice',
      [
        e({ status: 404, codes: [{ code: 'BLOB_UPLOAD_UNKNOWN' }] }),
        e({ status: 404, codes: [{ code: 'BLOB_UPLOAD_INVALID' }] }),
      ],
      'no-shared-secret',
    ],
    [
      'a 404 on the session URL twice, without a code',
      [e({ status: 404 }), e({ status: 404 })],
      'no-shared-secret',
    ],
    ['524', [e({ status: 524 })], 'proxy-timeout'],
    ['522 then 503', [e({ status: 522 }), e({ status: 503 })], 'proxy-timeout'],
    ['persistent 500', [e({ status: 500 }), e({ status: 500 })], 'storage-error'],
    ['DIGEST_INVALID', [e({ status: 400, codes: [{ code: 'DIGEST_INVALID' }] })], 'corrupt-layout'],
    ['403', [e({ status: 403 })], 'credentials'],
    [
      '401 insufficient_scope mid-push',
      [e({ status: 401, headers: { 'www-authenticate': 'Bearer error="insufficient_scope"' } })],
      'credentials',
    ],
    ['a certificate error', [e({ networkCode: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' })], 'certificate'],
    ['resets', [e({ networkCode: 'ECONNRESET' })], 'connection-reset'],
    ['nothing known', [e({ status: 418 })], 'unknown'],
  ] as const)('%s', (_name, errors, id) => {
    expect(probableCause({ errors, observations: noObs, phase: 'blobs' }).id).toBe(id);
  });

  it('201 then 404 on HEAD: replicas without shared storage', () => {
    expect(probableCause({ errors: [], vanishedAfterAck: true }).id).toBe('vanished-after-ack');
  });

  it('a 401 partway through is the token lifetime; at the start it is the credentials', () => {
    const unauthorized = [e({ status: 401 })];
    expect(
      probableCause({
        errors: unauthorized,
        phase: 'blobs',
        observations: { ...noObs, unauthorizedMidPush: 1 },
      }).id,
    ).toBe('token-lifetime');
    expect(probableCause({ errors: unauthorized, phase: 'auth', observations: noObs }).id).toBe(
      'credentials',
    );
  });

  it('an http Location behind https', () => {
    expect(
      probableCause({
        errors: [e({ networkCode: 'ECONNREFUSED' })],
        observations: { ...noObs, locationDowngraded: true },
      }).id,
    ).toBe('location-downgrade');
  });
});
