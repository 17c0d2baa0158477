import { describe, expect, it } from 'vitest';
import { RegistryError } from '../../src/registry/errors.js';
import {
  effectiveChunkSize,
  isBodyPathFailure,
  isSessionGone,
} from '../../src/upload/upload-blob.js';

const err = (init: Partial<ConstructorParameters<typeof RegistryError>[0]>): RegistryError =>
  new RegistryError({ method: 'PUT', url: 'http://r/v2/a/blobs/uploads/1', ...init });
const MiB = 1 << 20;

describe('isBodyPathFailure', () => {
  it('is true for a 413 whatever the size', () => {
    expect(isBodyPathFailure(err({ status: 413 }), 10, 50 * MiB)).toBe(true);
  });

  it('is true for 520, 522, 524 and resets while sending, when chunks would be smaller than the blob', () => {
    for (const status of [520, 522, 524])
      expect(isBodyPathFailure(err({ status }), 100 * MiB, 50 * MiB)).toBe(true);
    expect(
      isBodyPathFailure(
        err({ networkCode: 'ECONNRESET', bodyIncomplete: true }),
        100 * MiB,
        50 * MiB,
      ),
    ).toBe(true);
    expect(
      isBodyPathFailure(err({ networkCode: 'EPIPE', bodyIncomplete: true }), 100 * MiB, 50 * MiB),
    ).toBe(true);
  });

  it('is false when chunking would resend the same body, after the body was sent, or for other statuses', () => {
    expect(isBodyPathFailure(err({ status: 524 }), 10 * MiB, 50 * MiB)).toBe(false);
    expect(
      isBodyPathFailure(
        err({ networkCode: 'ECONNRESET', bodyIncomplete: false }),
        100 * MiB,
        50 * MiB,
      ),
    ).toBe(false);
    expect(isBodyPathFailure(err({ status: 503 }), 100 * MiB, 50 * MiB)).toBe(false);
    expect(
      isBodyPathFailure(
        err({ status: 400, codes: [{ code: 'DIGEST_INVALID' }] }),
        100 * MiB,
        50 * MiB,
      ),
    ).toBe(false);
  });
});

describe('effectiveChunkSize', () => {
  it('raises to OCI-Chunk-Min-Length and lowers to OCI-Chunk-Max-Length', () => {
    expect(effectiveChunkSize(MiB, 5 * MiB)).toBe(5 * MiB);
    expect(effectiveChunkSize(50 * MiB, undefined, 10 * MiB)).toBe(10 * MiB);
    expect(effectiveChunkSize(50 * MiB)).toBe(50 * MiB);
  });
});

describe('isSessionGone', () => {
  it('is true for BLOB_UPLOAD_UNKNOWN and a bare 404, never for NAME_UNKNOWN', () => {
    expect(isSessionGone(err({ status: 404, codes: [{ code: 'BLOB_UPLOAD_UNKNOWN' }] }))).toBe(
      true,
    );
    expect(isSessionGone(err({ status: 404 }))).toBe(true);
    expect(isSessionGone(err({ status: 404, codes: [{ code: 'NAME_UNKNOWN' }] }))).toBe(false);
    expect(isSessionGone(err({ status: 500 }))).toBe(false);
  });
});
