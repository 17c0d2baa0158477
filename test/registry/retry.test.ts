import { describe, expect, it } from 'vitest';
import { backoffDelay, parseRetryAfter, withRetry } from '../../src/registry/retry.js';
import { RegistryError } from '../../src/registry/errors.js';
import type { HttpRequest, HttpResponse, Transport } from '../../src/registry/http.js';
import { RepositoryClient } from '../../src/registry/client.js';
import { Registry } from '../../src/registry/registry.js';
import { silentLogger } from '../../src/util/logger.js';
import { fakeClock as makeFakeClock } from '../support/engine.js';

const fakeClock = (random = 0.5) => makeFakeClock(random, 1_000_000);

const response = (status: number, headers: Record<string, string> = {}): HttpResponse => ({
  status,
  headers,
  body: Buffer.alloc(0),
  url: new URL('http://r/'),
});

describe('backoff', () => {
  it('doubles from 1 s, capped at 30 s, with jitter in the upper half', () => {
    const low = fakeClock(0);
    const high = fakeClock(1);
    expect([0, 1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, high))).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000,
    ]);
    expect([0, 1, 2, 5].map((n) => backoffDelay(n, low))).toEqual([500, 1000, 2000, 15000]);
  });

  it('reads Retry-After in seconds and as a date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:12 GMT', now)).toBe(12000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });
});

describe('withRetry', () => {
  it('retries transient statuses up to the limit, then returns the last answer', async () => {
    const clock = fakeClock(1);
    let calls = 0;
    const next: Transport = async () => {
      calls++;
      return response(503);
    };
    const res = await withRetry(
      next,
      { retries: 3, clock },
      silentLogger,
    )({ method: 'GET', url: new URL('http://r/') });
    expect(res.status).toBe(503);
    expect(calls).toBe(4);
    expect(clock.slept).toEqual([1000, 2000, 4000]);
  });

  it('a blob step goes out once (the second transport), everything else through the retries', async () => {
    let calls = 0;
    const base = {
      send: async (req: HttpRequest) => (calls++, { ...response(503), url: req.url }),
      close: async () => undefined,
      destroy: async () => undefined,
    };
    const registry = new Registry({
      name: 'r',
      apiHost: 'r',
      insecure: false,
      retries: 2,
      clock: fakeClock(),
      logger: silentLogger,
      base,
      pinged: { baseUrl: new URL('http://r') },
    });
    const client = new RepositoryClient(registry, 'a/b');
    await expect(client.uploadStatus(new URL('http://r/v2/a/b/blobs/uploads/1'))).rejects.toThrow(
      /503/,
    );
    expect(calls).toBe(1);
    calls = 0;
    await expect(client.getManifest('1', [])).rejects.toThrow(/503/);
    expect(calls).toBe(3);
  });

  it('retries a refused connection quickly, a few times, charged to the budget (retries: 0, none)', async () => {
    const clock = fakeClock();
    let calls = 0;
    const refused: Transport = async (req) => {
      calls++;
      throw new RegistryError({ method: req.method, url: req.url, networkCode: 'ECONNREFUSED' });
    };
    await expect(
      withRetry(
        refused,
        { retries: 5, clock },
        silentLogger,
      )({
        method: 'GET',
        op: 'ping',
        url: new URL('http://r/v2/'),
      }),
    ).rejects.toThrow(/ECONNREFUSED/);
    expect(calls).toBe(5);
    expect(clock.slept.reduce((a, b) => a + b, 0)).toBeLessThan(10_000);
    calls = 0;
    await expect(
      withRetry(
        refused,
        { retries: 0, clock },
        silentLogger,
      )({
        method: 'GET',
        op: 'ping',
        url: new URL('http://r/v2/'),
      }),
    ).rejects.toThrow(/ECONNREFUSED/);
    expect(calls).toBe(1);
  });

  it('never retries a name that does not resolve', async () => {
    const clock = fakeClock();
    let calls = 0;
    const unknownHost: Transport = async (req) => {
      calls++;
      throw new RegistryError({ method: req.method, url: req.url, networkCode: 'ENOTFOUND' });
    };
    await expect(
      withRetry(
        unknownHost,
        { retries: 5, clock },
        silentLogger,
      )({
        method: 'GET',
        op: 'ping',
        url: new URL('http://r/v2/'),
      }),
    ).rejects.toThrow(/ENOTFOUND/);
    expect(calls).toBe(1);
  });

  it('honours Retry-After instead of its own backoff', async () => {
    const clock = fakeClock();
    const answers = [response(429, { 'retry-after': '3' }), response(200)];
    const res = await withRetry(
      async () => answers.shift()!,
      { retries: 5, clock },
      silentLogger,
    )({ method: 'GET', url: new URL('http://r/') });
    expect(res.status).toBe(200);
    expect(clock.slept).toEqual([3000]);
  });

  it('retries network resets but never a 403', async () => {
    const clock = fakeClock();
    let calls = 0;
    const reset: Transport = async (req) => {
      calls++;
      throw new RegistryError({ method: req.method, url: req.url, networkCode: 'ECONNRESET' });
    };
    await expect(
      withRetry(
        reset,
        { retries: 2, clock },
        silentLogger,
      )({ method: 'GET', url: new URL('http://r/') }),
    ).rejects.toThrow(/ECONNRESET/);
    expect(calls).toBe(3);
    let forbidden = 0;
    const res = await withRetry(
      async () => (forbidden++, response(403)),
      { retries: 5, clock },
      silentLogger,
    )({ method: 'GET', url: new URL('http://r/') });
    expect(res.status).toBe(403);
    expect(forbidden).toBe(1);
  });
});
