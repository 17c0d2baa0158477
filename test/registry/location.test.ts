import { describe, expect, it } from 'vitest';
import { resolveLocation } from '../../src/registry/location.js';

describe('resolveLocation', () => {
  const base = new URL('https://reg.example.com/v2/a/blobs/uploads/');

  it('resolves a relative Location and keeps its query string', () => {
    const { url, downgraded } = resolveLocation(base, '/v2/a/blobs/uploads/123?_state=abc%3D&x=1');
    expect(url.toString()).toBe('https://reg.example.com/v2/a/blobs/uploads/123?_state=abc%3D&x=1');
    expect(downgraded).toBe(false);
  });

  it('keeps https when the registry answers with an http Location for its own host, and says so', () => {
    const { url, downgraded } = resolveLocation(
      base,
      'http://reg.example.com/v2/a/blobs/uploads/1?_state=s',
    );
    expect(url.toString()).toBe('https://reg.example.com/v2/a/blobs/uploads/1?_state=s');
    expect(downgraded).toBe(true);
  });

  it('follows a Location on another host as it is', () => {
    const { url } = resolveLocation(base, 'https://storage.example.net/upload?sig=1');
    expect(url.host).toBe('storage.example.net');
  });
});
