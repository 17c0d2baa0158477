import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSelfSigned } from '../support/certs.js';
import { makeLayout } from '../support/layouts.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli, skopeoPull } from '../support/run.js';
import { type TcpCounter, startTcpCounter } from '../support/tcp-counter.js';
import { createBaseTransport } from '../../src/registry/http.js';

// A registry that offers HTTP/2 over TLS (distribution does): every request without a blob's bytes
// shares one connection, so a distant registry costs one handshake, not one per HEAD.
let work: string;
let registry: RunningRegistry;
let caFile: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-push-h2-'));
  const tls = makeSelfSigned(work, 'h2', ['127.0.0.1']);
  caFile = tls.certFile;
  registry = await startRegistry({ tls });
});
afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

async function pushThrough(counter: TcpCounter, dir: string): Promise<number> {
  const before = counter.tlsConnections();
  const res = await runCli([
    '--layout',
    dir,
    '--tags',
    `127.0.0.1:${counter.port}/h2/app:1`,
    '--ca-file',
    caFile,
  ]);
  expect(res.code, res.stderr).toBe(0);
  return counter.tlsConnections() - before;
}

describe('HTTP/2 where the registry offers it over TLS', () => {
  // (A loopback registry is asked over plain http first; only TLS connections are counted.)
  it('a re-push of 12 blobs asks on one TLS connection; a fresh push adds one per blob body at most', async () => {
    const dir = join(work, 'image');
    await makeLayout(dir, { seed: 'h2', layers: 11, layerSize: 64 << 10 });
    const counter = await startTcpCounter(registry.port);
    try {
      const fresh = await pushThrough(counter, dir);
      // The ping, 12 HEADs, 12 POSTs, 12 verifications, the manifest and its read-back on one
      // connection; the 12 bodies on HTTP/1.1 connections of their own.
      expect(fresh).toBeGreaterThanOrEqual(2);
      expect(fresh).toBeLessThanOrEqual(1 + 12);
      // Every request of a re-push on one connection; beside it, at most the 8 connections opened
      // for bodies as soon as the registry was seen to speak HTTP/2, before the checks said none
      // was needed (connect.ts).
      expect(await pushThrough(counter, dir)).toBeLessThanOrEqual(1 + 8);
      const pulled = await skopeoPull(`127.0.0.1:${counter.port}/h2/app:1`, join(work, 'pulled'));
      expect(pulled.code, pulled.stderr).toBe(0);
    } finally {
      await counter.stop();
    }
  });
});

describe("a blob body's connection, opened while its upload starts", () => {
  it('carries the body, and an idle one is not doubled', async () => {
    const counter = await startTcpCounter(registry.port);
    const base = createBaseTransport({ ca: readFileSync(caFile, 'utf8') });
    const url = new URL(`https://127.0.0.1:${counter.port}/v2/`);
    const waitFor = async (n: number): Promise<void> => {
      for (let i = 0; i < 100 && counter.tlsConnections() < n; i++)
        await new Promise((r) => setTimeout(r, 20));
    };
    try {
      base.warm!(url);
      await waitFor(1);
      // Opened before any request asked for it, and the body goes on it: no second handshake.
      expect(counter.tlsConnections()).toBe(1);
      const body = { method: 'PUT', url, op: 'put-blob' as const, body: () => 'x' };
      expect((await base.send(body)).status).toBeGreaterThanOrEqual(200);
      expect(counter.tlsConnections()).toBe(1);
      // The next body finds that connection idle (once undici has put it back): nothing more opens.
      await new Promise((r) => setTimeout(r, 50));
      base.warm!(url);
      await new Promise((r) => setTimeout(r, 200));
      expect(counter.tlsConnections()).toBe(1);
      await base.send(body);
      expect(counter.tlsConnections()).toBe(1);
      await new Promise((r) => setTimeout(r, 50));
      // Two bodies announced with one idle connection: one more opens, and is closed unused.
      base.warm!(url);
      base.warm!(url);
      await waitFor(2);
      expect(counter.tlsConnections()).toBe(2);
      // Opened ahead of any announcement: three parked in all (one already was), however often
      // asked, and bodies announced then take those instead of opening more.
      base.preopen!(url, 3);
      base.preopen!(url, 3);
      await waitFor(4);
      await new Promise((r) => setTimeout(r, 100));
      expect(counter.tlsConnections()).toBe(4);
      base.warm!(url);
      base.warm!(url);
      await new Promise((r) => setTimeout(r, 100));
      expect(counter.tlsConnections()).toBe(4);
    } finally {
      await base.destroy();
      await counter.stop();
    }
  });
});
