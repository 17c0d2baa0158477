import { describe, expect, it } from 'vitest';
import { displayUrl, redactUrl } from '../../src/registry/redact.js';

describe('redactUrl', () => {
  it('removes userinfo and hides signed or token-bearing parameters', () => {
    const out = redactUrl(
      'https://user:pw@s3.example.com/b?X-Amz-Signature=abc&token=t0k&digest=sha256:1',
    );
    expect(out).not.toContain('pw');
    expect(out).not.toContain('abc');
    expect(out).not.toContain('t0k');
    expect(out).toContain('digest=sha256%3A1');
  });

  it('shortens upload state for display', () => {
    expect(displayUrl('https://r/v2/a/blobs/uploads/1?_state=verylongstate&digest=sha256:ab')).toBe(
      'https://r/v2/a/blobs/uploads/1?_state=…&digest=sha256:ab',
    );
  });
});
