import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeSelfSigned } from '../support/certs.js';
import { pushWithEngine } from '../support/engine.js';
import { type FaultConfig, type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { type BuiltImage, makeLayout } from '../support/layouts.js';
import { layoutContents, listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { skopeoPull } from '../support/run.js';
import { type TokenRegistry, startTokenRegistry } from '../support/token-registry.js';
import type { TokenServer } from '../support/token-server.js';

const MiB = 1 << 20;
let registry: RunningRegistry;
let work: string;
let big: { dir: string; image: BuiltImage };
let small: { dir: string; image: BuiltImage };
const proxies: FaultProxy[] = [];
let repoCounter = 0;

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'oci-push-resilience-'));
  const bigDir = join(work, 'big');
  big = {
    dir: bigDir,
    image: await makeLayout(bigDir, { seed: 'big', layers: 3, layerSize: 3 * MiB }),
  };
  const smallDir = join(work, 'small');
  small = {
    dir: smallDir,
    image: await makeLayout(smallDir, { seed: 'small', layers: 2, layerSize: 64 * 1024 }),
  };
});
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

async function proxy(
  config: FaultConfig,
  tls?: { certFile: string; keyFile: string },
): Promise<FaultProxy> {
  const p = await startFaultProxy(registry, config, tls);
  proxies.push(p);
  return p;
}

function repo(): string {
  return `resilience/r${++repoCounter}`;
}

/** Pulls from the registry itself (not through the proxy) with skopeo: the image is whole and identical. */
async function expectIntact(repository: string, tag: string, image: BuiltImage): Promise<void> {
  const dest = await mkdtemp(join(work, 'pull-'));
  const pulled = await skopeoPull(`${registry.host}/${repository}:${tag}`, dest);
  expect(pulled.code, pulled.stderr).toBe(0);
  const contents = await layoutContents(dest);
  expect(contents.top).toBe(image.digest);
  for (const d of [...image.blobs, ...image.manifests]) expect(contents.blobs).toContain(d);
}

const patches = (p: FaultProxy) => p.log.filter((e) => e.method === 'PATCH' && e.status === 202);

describe('upload-mode auto behind a body-size cap', () => {
  it('falls back to chunks after a Cloudflare 413, cancels the session, remembers the size, and the image pulls back intact', async () => {
    const p = await proxy({ bodyCap: { bytes: 2 * MiB, style: 'cloudflare' } });
    const r = repo();
    const { result } = await pushWithEngine({
      layout: big.dir,
      tags: `${p.host}/${r}:1`,
      'chunk-size': '1MiB',
      concurrency: '1',
    });
    expect(result.error?.message).toBeUndefined();
    expect(result.ok).toBe(true);
    // A 413 teaches a size: no blob that large or larger tries a monolithic upload again.
    const capped = p.log.filter((e) => e.status === 413).map((e) => e.contentLength!);
    expect(capped.length).toBeGreaterThanOrEqual(1);
    for (let i = 1; i < capped.length; i++)
      expect(capped[i]).toBeLessThan(Math.min(...capped.slice(0, i)));
    expect(p.log.some((e) => e.method === 'DELETE' && /blobs\/uploads\//.test(e.path))).toBe(true);
    for (const e of patches(p)) {
      expect(e.contentRange).toMatch(/^\d+-\d+$/);
      const [start, end] = e.contentRange!.split('-').map(Number) as [number, number];
      expect(end - start + 1).toBe(e.contentLength);
    }
    // Every chunk of a blob but its last is exactly the chunk size.
    const bySession = new Map<string, number[]>();
    for (const e of patches(p))
      bySession.set(e.path.split('?')[0]!, [
        ...(bySession.get(e.path.split('?')[0]!) ?? []),
        e.contentLength!,
      ]);
    for (const sizes of bySession.values()) for (const s of sizes.slice(0, -1)) expect(s).toBe(MiB);
    const commits = p.log.filter(
      (e) => e.method === 'PUT' && /digest=/.test(e.path) && e.status === 201,
    );
    for (const c of commits.filter(
      (e) => e.path.includes('uploads/') && bySession.has(e.path.split('?')[0]!),
    ))
      expect(c.contentLength ?? 0).toBe(0);
    const outcomes = [...result.targets[0]!.blobs.values()];
    const chunked = outcomes.filter((o) => o.how === 'chunked');
    expect(chunked).toHaveLength(3);
    for (const o of chunked) expect(o.chunks).toBe(Math.ceil(o.size / MiB));
    await expectIntact(r, '1', big.image);
  });

  it('monolithic mode stops at the cap, names the blobs, and tags nothing', async () => {
    const p = await proxy({ bodyCap: { bytes: 2 * MiB, style: 'nginx' } });
    const r = repo();
    const { result } = await pushWithEngine({
      layout: big.dir,
      tags: `${p.host}/${r}:1`,
      'upload-mode': 'monolithic',
    });
    expect(result.ok).toBe(false);
    const layers = big.image.blobs.slice(1);
    expect(result.failedBlobs.sort()).toEqual([...layers].sort());
    expect(result.error?.message).toMatch(/3 blobs failed, so no manifest was pushed/);
    expect(p.log.some((e) => e.method === 'PUT' && /manifests/.test(e.path))).toBe(false);
    expect(await listTags(registry.url, r)).toEqual([]);
    // A 413 is not transient: each blob was tried once.
    expect(p.log.filter((e) => e.status === 413)).toHaveLength(3);
  });

  it('falls back to chunks when the connection is reset while the body is being sent', async () => {
    const p = await proxy({ resetBody: { afterBytes: 512 * 1024, times: 1, methods: ['PUT'] } });
    const r = repo();
    const { result } = await pushWithEngine({
      layout: big.dir,
      tags: `${p.host}/${r}:1`,
      'chunk-size': '2MiB',
      concurrency: '1',
    });
    expect(result.ok, result.error?.message).toBe(true);
    const first = [...result.targets[0]!.blobs.values()].find((o) => o.how === 'chunked');
    expect(first?.tried.join('\n')).toMatch(
      /monolithic upload: .*(ECONNRESET|EPIPE|UND_ERR_SOCKET)/,
    );
    await expectIntact(r, '1', big.image);
  });
});

describe('upload-mode auto and proxy timeouts', () => {
  it('falls back to chunks when the body request gets a 524', async () => {
    const p = await proxy({ timeoutBodiesOver: 2 * MiB });
    const r = repo();
    const { result } = await pushWithEngine({
      layout: big.dir,
      tags: `${p.host}/${r}:1`,
      'chunk-size': '1MiB',
      concurrency: '1',
    });
    expect(result.ok, result.error?.message).toBe(true);
    expect(p.log.filter((e) => e.status === 524).length).toBeGreaterThanOrEqual(1);
    expect([...result.targets[0]!.blobs.values()].filter((o) => o.how === 'chunked')).toHaveLength(
      3,
    );
    await expectIntact(r, '1', big.image);
  });
});

describe('chunked uploads', () => {
  it('raises the chunk size to OCI-Chunk-Min-Length', async () => {
    const p = await proxy({ postHeaders: { 'OCI-Chunk-Min-Length': String(2 * MiB) } });
    const r = repo();
    const { result } = await pushWithEngine({
      layout: big.dir,
      tags: `${p.host}/${r}:1`,
      'upload-mode': 'chunked',
      'chunk-size': '1MiB',
    });
    expect(result.ok, result.error?.message).toBe(true);
    expect(patches(p).filter((e) => e.contentLength! > 64 * 1024)[0]?.contentLength).toBe(2 * MiB);
    await expectIntact(r, '1', big.image);
  });

  it('lowers the chunk size to OCI-Chunk-Max-Length', async () => {
    const p = await proxy({ postHeaders: { 'OCI-Chunk-Max-Length': String(MiB) } });
    const r = repo();
    const { result } = await pushWithEngine({
      layout: big.dir,
      tags: `${p.host}/${r}:1`,
      'upload-mode': 'chunked',
      'chunk-size': '8MiB',
    });
    expect(result.ok, result.error?.message).toBe(true);
    expect(Math.max(...patches(p).map((e) => e.contentLength!))).toBe(MiB);
  });

  it('halves the refused chunk after a 413 and goes on; later blobs start at the size that worked', async () => {
    const p = await proxy({ bodyCap: { bytes: 1.5 * MiB, style: 'cloudflare' } });
    const r = repo();
    const { result } = await pushWithEngine({
      layout: big.dir,
      tags: `${p.host}/${r}:1`,
      'upload-mode': 'chunked',
      'chunk-size': '4MiB',
      concurrency: '1',
    });
    expect(result.ok, result.error?.message).toBe(true);
    // The first chunk (the whole 3 MiB blob) and then half of it are refused; a quarter goes
    // through, and the later blobs start at that size, so there are no more 413s.
    const refused = p.log.filter((e) => e.status === 413).map((e) => e.contentLength!);
    expect(refused).toHaveLength(2);
    expect(refused[0]).toBeGreaterThan(3 * MiB);
    expect(refused[1]).toBe(Math.floor(refused[0]! / 2));
    const sent = patches(p).map((e) => e.contentLength!);
    expect(Math.max(...sent)).toBe(Math.floor(refused[1]! / 2));
    await expectIntact(r, '1', big.image);
  });
});

describe('retries', () => {
  it('retries a 5xx on the Nth request and honours 429 Retry-After', async () => {
    const p = await proxy({
      failNth: { nth: [3, 4], status: 502 },
      rateLimit: { nth: [6], retryAfter: '7' },
    });
    const r = repo();
    const { result, clock } = await pushWithEngine({
      layout: small.dir,
      tags: `${p.host}/${r}:1`,
      concurrency: '1',
    });
    expect(result.ok, result.error?.message).toBe(true);
    expect(p.log.filter((e) => e.fault)).toHaveLength(3);
    expect(clock.slept).toContain(7000);
    await expectIntact(r, '1', small.image);
  });

  it('never retries a 403, stops at the first, and names the blob and the cause', async () => {
    const p = await proxy({
      failNth: { nth: Array.from({ length: 200 }, (_, i) => i + 1), status: 403, methods: ['PUT'] },
    });
    const r = repo();
    const { result } = await pushWithEngine({
      layout: small.dir,
      tags: `${p.host}/${r}:1`,
      concurrency: '1',
    });
    expect(result.ok).toBe(false);
    // A 403 after the credentials were accepted is the account's permission: no other blob can
    // get past it either, so the push stops there.
    expect(result.failedBlobs).toHaveLength(1);
    expect(p.log.filter((e) => e.method === 'PUT')).toHaveLength(1);
    const failed = result.targets[0]!.blobs.get(result.failedBlobs[0]!)!;
    expect(failed.cause).toBe('permission-denied');
    expect(await listTags(registry.url, r)).toEqual([]);
  });

  it('retries a failing upload as a whole session, without also retrying the request inside it', async () => {
    const p = await proxy({
      failNth: { nth: Array.from({ length: 200 }, (_, i) => i + 1), status: 503, methods: ['PUT'] },
    });
    const r = repo();
    const { result } = await pushWithEngine({
      layout: small.dir,
      tags: `${p.host}/${r}:1`,
      concurrency: '1',
      retries: '2',
      'upload-mode': 'monolithic',
    });
    expect(result.ok).toBe(false);
    const perBlob = result.failedBlobs.map(
      (d) => p.log.filter((e) => e.method === 'PUT' && e.path.includes(d)).length,
    );
    // retries: 2 → 3 sessions, one PUT each: not 3 × 3.
    expect(perBlob).toEqual([3, 3, 3]);
  });

  it('budgets do not multiply: every PATCH 500 and every status GET 503 fail within 60 requests and 60 s', async () => {
    const p = await proxy({
      failWhen: [
        { method: 'PATCH', path: /\/blobs\/uploads\//, status: 500 },
        { method: 'GET', path: /\/blobs\/uploads\//, status: 503, code: 'UNAVAILABLE' },
      ],
    });
    const r = repo();
    const oneLayer = join(work, 'one-layer');
    await makeLayout(oneLayer, { seed: 'budget', layers: 1, layerSize: 64 * 1024 });
    const { result, clock } = await pushWithEngine({
      layout: oneLayer,
      tags: `${p.host}/${r}:1`,
      retries: '5',
      'upload-mode': 'chunked',
    });
    expect(result.ok).toBe(false);
    // Measured before the single budget: 111 requests and 170 s.
    expect(p.log.length).toBeLessThanOrEqual(60);
    expect(result.durationMs).toBeLessThanOrEqual(60_000);
    // Each blob: one PATCH, then the resume's status GETs; 5 tries again between them, not 5 × 5.
    for (const digest of result.failedBlobs) {
      const outcome = result.targets[0]!.blobs.get(digest)!;
      expect(outcome.cause).toBe('storage-error');
      expect(outcome.attempts).toBe(1);
    }
    const statusGets = p.log.filter((e) => e.method === 'GET' && /uploads\//.test(e.path));
    expect(statusGets.length).toBeLessThanOrEqual(2 * 5);
    expect(clock.slept.length).toBeLessThanOrEqual(2 * 5);
  });
});

describe('verify before the manifest', () => {
  it('asks HEAD again while a replica lags, without uploading again', async () => {
    const p = await proxy({ headLag: 2 });
    const r = repo();
    const { result } = await pushWithEngine({ layout: small.dir, tags: `${p.host}/${r}:1` });
    expect(result.ok, result.error?.message).toBe(true);
    expect(p.log.filter((e) => e.fault === 'replica lag')).toHaveLength(6);
    expect(p.log.filter((e) => e.method === 'PUT' && /uploads/.test(e.path))).toHaveLength(3);
    await expectIntact(r, '1', small.image);
  });

  it('a blob that never stays fails the push after three uploads, and nothing is tagged', async () => {
    const victim = small.image.blobs[1]!;
    const p = await proxy({ neverStays: [victim] });
    const r = repo();
    const { result } = await pushWithEngine({ layout: small.dir, tags: `${p.host}/${r}:1` });
    expect(result.ok).toBe(false);
    expect(result.failedBlobs).toEqual([victim]);
    const outcome = result.targets[0]!.blobs.get(victim)!;
    expect(outcome.vanishedAfterAck).toBe(true);
    expect(outcome.tried.filter((t) => /acknowledged \(201\), then HEAD/.test(t))).toHaveLength(3);
    expect(p.deleted.filter((d) => d === victim)).toHaveLength(3);
    expect(p.log.some((e) => e.method === 'PUT' && /manifests/.test(e.path))).toBe(false);
    expect(await listTags(registry.url, r)).toEqual([]);
  });

  it('re-uploads a blob the registry lost before the manifest PUT (MANIFEST_BLOB_UNKNOWN) and retries the PUT once', async () => {
    const victim = small.image.blobs[2]!;
    const p = await proxy({ deleteBeforeManifest: [victim] });
    const r = repo();
    const { result } = await pushWithEngine({ layout: small.dir, tags: `${p.host}/${r}:1` });
    expect(result.ok, result.error?.message).toBe(true);
    const manifestPuts = p.log.filter((e) => e.method === 'PUT' && /manifests/.test(e.path));
    expect(manifestPuts[0]?.status).toBe(400);
    expect(
      p.log.filter((e) => e.method === 'PUT' && e.path.includes(`digest=${victim}`)),
    ).toHaveLength(2);
    expect(result.targets[0]!.blobs.get(victim)!.tried.join('\n')).toMatch(
      /manifest PUT answered MANIFEST_BLOB_UNKNOWN/,
    );
    await expectIntact(r, '1', small.image);
  });
});

describe('Location headers', () => {
  it('follows relative Locations, keeping the query string', async () => {
    const p = await proxy({ location: 'relative' });
    const r = repo();
    const { result } = await pushWithEngine({ layout: small.dir, tags: `${p.host}/${r}:1` });
    expect(result.ok, result.error?.message).toBe(true);
    expect(
      p.log.filter((e) => e.method === 'PUT' && /_state=/.test(e.path) && e.status === 201),
    ).toHaveLength(3);
  });

  it('starts a new session when a Location is stale (BLOB_UPLOAD_UNKNOWN)', async () => {
    const p = await proxy({ location: 'stale-once' });
    const r = repo();
    const { result } = await pushWithEngine({
      layout: small.dir,
      tags: `${p.host}/${r}:1`,
      concurrency: '1',
    });
    expect(result.ok, result.error?.message).toBe(true);
    expect(
      p.log.some(
        (e) => e.status === 404 && e.path.includes('00000000-0000-4000-8000-000000000000'),
      ),
    ).toBe(true);
  });

  it('keeps https when a TLS proxy without X-Forwarded-Proto makes the registry write http Locations', async () => {
    const cert = makeSelfSigned(work, 'proxy-tls', ['127.0.0.1']);
    const p = await proxy({}, cert);
    const r = repo();
    // insecure accepts the proxy's self-signed certificate; the scheme stays https throughout.
    const { result, logger } = await pushWithEngine({
      layout: small.dir,
      tags: `${p.host}/${r}:1`,
      insecure: 'true',
    });
    expect(result.ok, result.error?.message).toBe(true);
    expect(logger.lines.join('\n')).toMatch(
      /answered with an http Location although it is reached over https.*X-Forwarded-Proto/,
    );
    expect(result.targets[0]!.observations?.locationDowngraded).toBe(true);
    expect(p.log.filter((e) => e.method === 'PUT' && e.status === 201).length).toBeGreaterThan(0);
    await expectIntact(r, '1', small.image);
  });

  it('follows a Location on another host without sending it the credentials', async () => {
    const auth = await startRegistry({ htpasswd: { u: 'secret-pw-1' } });
    try {
      const header = `Basic ${Buffer.from('u:secret-pw-1').toString('base64')}`;
      // The "storage" host is the same registry under another name; it adds its own credentials upstream.
      const storage = await startFaultProxy(auth, { injectAuthorization: header } as FaultConfig);
      proxies.push(storage);
      const front = await startFaultProxy(auth, {
        uploadsVia: `http://localhost:${storage.host.split(':')[1]}`,
      });
      proxies.push(front);
      const r = repo();
      const { result } = await pushWithEngine({
        layout: small.dir,
        tags: `${front.host}/${r}:1`,
        username: 'u',
        password: 'secret-pw-1',
      });
      expect(result.ok, result.error?.message).toBe(true);
      expect(storage.log.length).toBeGreaterThan(0);
      expect(storage.log.every((e) => !e.authorization)).toBe(true);
      expect(
        front.log.filter((e) => e.path.startsWith('/v2/resilience')).every((e) => e.authorization),
      ).toBe(true);
    } finally {
      await auth.stop();
    }
  });
});

describe('tokens', () => {
  let tokenRegistry: RunningRegistry;
  let tokens: TokenServer;
  let running: TokenRegistry;
  beforeAll(async () => {
    running = await startTokenRegistry(work, { u: 'pw-token-1' });
    ({ registry: tokenRegistry, tokens } = running);
  });
  afterAll(() => running?.stop());

  it('refreshes the token once on a 401 in the middle of the push and repeats the request', async () => {
    const challenge = `Bearer realm="${tokens.realm}",service="svc",scope="repository:resilience/tok:pull,push",error="invalid_token"`;
    const p = await startFaultProxy(tokenRegistry, {
      unauthorizedOnce: { path: /\/manifests\//, challenge },
    });
    proxies.push(p);
    const before = tokens.requests.length;
    const { result } = await pushWithEngine({
      layout: small.dir,
      tags: `${p.host}/resilience/tok:1`,
      username: 'u',
      password: 'pw-token-1',
    });
    expect(result.ok, result.error?.message).toBe(true);
    expect(p.log.filter((e) => e.fault === '401 token expired')).toHaveLength(1);
    expect(tokens.requests.length - before).toBe(2);
    expect(result.targets[0]!.observations?.unauthorizedMidPush).toBe(1);
  });
});
