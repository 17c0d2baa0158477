import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { marked } from 'marked';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CauseFacts, type CauseId, causeOf } from '../../src/report/causes.js';
import { statSync } from 'node:fs';
import { type ActionRun, runAction } from '../support/actions-runner.js';
import { makeSelfSigned } from '../support/certs.js';
import { type FaultConfig, type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { type BuiltImage, makeLayout } from '../support/layouts.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli } from '../support/run.js';
import { type TokenRegistry, startTokenRegistry } from '../support/token-registry.js';
import type { TokenServer } from '../support/token-server.js';

const MiB = 1 << 20;
let registry: RunningRegistry;
let work: string;
let image: BuiltImage;
let layout: string;
const proxies: FaultProxy[] = [];
let n = 0;

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'oci-push-summary-'));
  layout = join(work, 'layout');
  image = await makeLayout(layout, { seed: 'summary', layers: 2, layerSize: 1536 * 1024 });
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
  upstream: { host: string } = registry,
  tls?: { certFile: string; keyFile: string },
): Promise<FaultProxy> {
  const p = await startFaultProxy(upstream, config, tls);
  proxies.push(p);
  return p;
}

/** The action through the runner's interface, against a proxy, with no retry sleeps worth waiting for. */
async function act(
  p: FaultProxy,
  inputs: Record<string, string> = {},
  env: NodeJS.ProcessEnv = {},
): Promise<ActionRun> {
  return runAction(
    work,
    { layout, tags: `${p.host}/summary/r${++n}:1`, retries: '0', diagnose: 'never', ...inputs },
    env,
  );
}

/** `::error title=oci-push: CAUSE::message`: the one annotation for a cause, naming its blobs. */
function annotationFor(run: ActionRun, digest: string, id: CauseId): string | undefined {
  return run.stdout
    .split('\n')
    .find(
      (l) => l.startsWith(`::error title=oci-push%3A ${id}::`) && l.includes(digest.slice(0, 19)),
    );
}

function expectBlobCause(
  run: ActionRun,
  digest: string,
  status: string,
  id: CauseId,
  facts: CauseFacts = {},
): void {
  expect(run.code, run.stdout).toBe(1);
  expect(JSON.parse(run.outputs['failed-blobs']!)).toContain(digest);
  expect(run.summary).toContain(`#### ❌ \`${digest}\``);
  expect(run.summary).toContain(status);
  expect(run.summary).toContain(causeOf(id, facts).title);
  expect(run.summary).toContain(causeOf(id, facts).fix);
  expect(run.summary).toMatch(/Re-running this job uploads only the \d+ failed blobs?/);
  const annotation = annotationFor(run, digest, id);
  expect(annotation, run.stdout).toBeDefined();
  // On failure, show what was tried for this blob: the evidence the cause was chosen from.
  const tried = run.summary.split(`#### ❌ \`${digest}\``)[1]?.split('####')[0] ?? run.summary;
  expect(annotation, tried).toContain(causeOf(id, facts).title.slice(0, 40));
}

const layer = (): string => image.blobs[1]!;
/** The size of a blob in the layout: the body a proxy refused. */
const sizeOf = (digest: string): number =>
  statSync(join(layout, 'blobs', 'sha256', digest.slice(7))).size;

describe('the summary names the failing blob, what the registry said, and the probable cause', () => {
  it('413 from Cloudflare', async () => {
    const run = await act(await proxy({ bodyCap: { bytes: MiB, style: 'cloudflare' } }), {
      'upload-mode': 'monolithic',
    });
    expectBlobCause(run, layer(), 'HTTP 413', 'cloudflare-body-limit', {
      largestRefused: sizeOf(layer()),
    });
    expect(run.summary).toContain('from server `cloudflare`');
  });

  it('413 from nginx', async () => {
    const run = await act(await proxy({ bodyCap: { bytes: MiB, style: 'nginx' } }), {
      'upload-mode': 'monolithic',
    });
    expectBlobCause(run, layer(), 'HTTP 413', 'nginx-body-limit', {
      largestRefused: sizeOf(layer()),
    });
  });

  it('acknowledged (201), then 404 on HEAD', async () => {
    const run = await act(await proxy({ neverStays: [layer()] }), { retries: '2' });
    expectBlobCause(run, layer(), 'HTTP 404', 'vanished-after-ack');
    expect(run.summary).toMatch(/upload 3 acknowledged \(201\), then HEAD/);
  });

  it('BLOB_UPLOAD_UNKNOWN again and again', async () => {
    // Three sessions, so a transient error on one (a proxy's stale keep-alive under load) still leaves
    // the repeated loss this cause is about.
    const run = await act(await proxy({ location: 'stale-always' }), { retries: '2' });
    // The config: its body is sent whole before the registry answers 404. A layer's may be cut
    // (EPIPE) when the registry refuses before reading it, which is a broken connection to the client.
    expectBlobCause(run, image.blobs[0]!, 'HTTP 404', 'no-shared-secret');
    // distribution says INVALID for a session whose state it cannot read, UNKNOWN for one it lost.
    expect(run.summary).toMatch(/`BLOB_UPLOAD_(UNKNOWN|INVALID)`/);
  });

  it('522 or 524 from a proxy', async () => {
    const run = await act(await proxy({ timeoutBodiesOver: 0 }), { 'upload-mode': 'monolithic' });
    expectBlobCause(run, layer(), 'HTTP 524', 'proxy-timeout');
  });

  it('a persistent 5xx', async () => {
    const run = await act(
      await proxy({
        failNth: {
          nth: Array.from({ length: 100 }, (_, i) => i + 1),
          status: 500,
          methods: ['PUT'],
        },
      }),
    );
    expectBlobCause(run, layer(), 'HTTP 500', 'storage-error');
  });

  it('a tag the registry keeps immutable (412): named, and the manifest PUT is not retried', async () => {
    const p = await proxy({ failWhen: [{ method: 'PUT', path: /\/manifests\//, status: 412 }] });
    const run = await act(p, { retries: '3' });
    expect(run.code).toBe(1);
    expect(run.summary).toContain(causeOf('tag-immutable').title);
    expect(run.summary).toContain('**Stopped at:** tags');
    expect(p.log.filter((e) => e.method === 'PUT' && /manifests/.test(e.path))).toHaveLength(1);
  });

  it('a manifest the registry refuses (ECR 405 UNSUPPORTED): named, not retried', async () => {
    const p = await proxy({
      failWhen: [{ method: 'PUT', path: /\/manifests\//, status: 405, code: 'UNSUPPORTED' }],
    });
    const run = await act(p, { retries: '3' });
    expect(run.code).toBe(1);
    expect(run.summary).toContain(causeOf('manifest-refused').title);
    expect(p.log.filter((e) => e.method === 'PUT' && /manifests/.test(e.path))).toHaveLength(1);
  });

  it("a rate limit that does not recover: Docker Hub's ratelimit headers in the summary", async () => {
    const p = await proxy({
      failWhen: [
        {
          method: 'POST',
          path: /\/blobs\/uploads\//,
          status: 429,
          code: 'TOOMANYREQUESTS',
          headers: {
            'ratelimit-limit': '100;w=21600',
            'ratelimit-remaining': '0;w=21600',
            'docker-ratelimit-source': '192.0.2.1',
          },
        },
      ],
    });
    const run = await act(p);
    expect(run.code).toBe(1);
    expect(run.summary).toContain(causeOf('rate-limited').title);
    expect(run.summary).toContain(
      'rate limit `100;w=21600`, remaining `0;w=21600` for `192.0.2.1`',
    );
  });

  it('DIGEST_INVALID for bytes changed on the way (the local file hashes right)', async () => {
    const run = await act(await proxy({ corruptBodies: true }));
    expectBlobCause(run, layer(), 'HTTP 400', 'bytes-changed');
    expect(run.summary).toContain('`DIGEST_INVALID`');
  });

  it('401 or 403 at the start', async () => {
    const locked = await startRegistry({ htpasswd: { u: 'right-password' } });
    try {
      const run = await act(await proxy({}, locked), { username: 'u', password: 'wrong-password' });
      expect(run.code).toBe(1);
      expect(run.summary).toContain('**Stopped at:** auth');
      expect(run.summary).toContain('HTTP 401');
      expect(run.summary).toContain(causeOf('credentials').title);
      expect(run.outputs['failed-blobs']).toBe('[]');
    } finally {
      await locked.stop();
    }
  });

  it('an http Location behind https: pushed, with a warning naming X-Forwarded-Proto', async () => {
    const cert = makeSelfSigned(work, 'summary-tls', ['127.0.0.1']);
    const p = await proxy({}, registry, cert);
    const run = await act(p, { insecure: 'true' });
    expect(run.code, run.stdout).toBe(0);
    expect(run.summary).toContain('### Warnings');
    expect(run.summary).toContain(causeOf('location-downgrade').title);
    expect(run.stdout).toMatch(/::warning title=oci-push::.*X-Forwarded-Proto/);
  });

  describe('with a token service', () => {
    let tokenRegistry: RunningRegistry;
    let tokens: TokenServer;
    let running: TokenRegistry;
    beforeAll(async () => {
      running = await startTokenRegistry(work, { u: 'pw-summary-1' });
      ({ registry: tokenRegistry, tokens } = running);
    });
    afterAll(() => running?.stop());

    it('a 401 partway through the push', async () => {
      const challenge = `Bearer realm="${tokens.realm}",service="svc",error="invalid_token"`;
      const p = await proxy({ unauthorizedFrom: { n: 4, challenge } }, tokenRegistry);
      const run = await act(p, { username: 'u', password: 'pw-summary-1', concurrency: '1' });
      expect(run.code).toBe(1);
      const failed = JSON.parse(run.outputs['failed-blobs']!) as string[];
      expect(failed.length).toBeGreaterThan(0);
      expectBlobCause(run, failed[0]!, 'HTTP 401', 'token-lifetime');
    });
  });
});

describe('summary structure', () => {
  it('thirty blobs refused by one 413: the causes lead, one annotation for the cause, then the overall one', async () => {
    const dir = join(work, 'thirty');
    await makeLayout(dir, { seed: 'thirty', layers: 30, layerSize: 100 * 1024 });
    const p = await proxy({ bodyCap: { bytes: 64 * 1024, style: 'cloudflare' } });
    const run = await runAction(work, {
      layout: dir,
      tags: `${p.host}/summary/thirty:1`,
      'upload-mode': 'monolithic',
      diagnose: 'never',
    });
    expect(run.code).toBe(1);
    const errors = run.stdout.split('\n').filter((l) => l.startsWith('::error'));
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(
      /^::error title=oci-push%3A cloudflare-body-limit::30 blobs \(sha256:/,
    );
    expect(errors[0]).toContain('and 27 more): 413 from cloudflare');
    // The summary opens with the grouped cause, before any detail.
    const lines = run.summary.split('\n').filter(Boolean);
    expect(lines[1]).toBe('### Why it failed');
    expect(lines[2]).toMatch(/^- \*\*30 blobs: 413 from cloudflare\*\* — Cloudflare refused/);
  });

  it('an http Location behind https on a 30-layer image: one warning, in the CLI too', async () => {
    const dir = join(work, 'thirty-tls');
    await makeLayout(dir, { seed: 'thirty-tls', layers: 30, layerSize: 1024 });
    const cert = makeSelfSigned(work, 'summary-tls-30', ['127.0.0.1']);
    const p = await proxy({}, registry, cert);
    const run = await runAction(work, {
      layout: dir,
      tags: `${p.host}/summary/thirty-tls:1`,
      insecure: 'true',
    });
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout.split('\n').filter((l) => l.startsWith('::warning'))).toHaveLength(1);
    const cli = await runCli([
      '--layout',
      dir,
      '--tags',
      `${p.host}/summary/thirty-cli:1`,
      '--insecure',
    ]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stderr.split('\n').filter((l) => /X-Forwarded-Proto/.test(l))).toHaveLength(2);
    expect(cli.stderr.split('\n').filter((l) => l.startsWith('warning:'))).toHaveLength(1);
  });

  it('URLs and digests render as they are: no &amp; or \\_ in the text a browser shows', async () => {
    const run = await act(await proxy({ location: 'stale-always' }), { retries: '2' });
    expect(run.code).toBe(1);
    const html = await marked.parse(run.summary, { gfm: true });
    const text = html
      .replace(/<[^>]+>/g, '')
      .replace(/&amp;/g, '&')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'");
    expect(text).toMatch(/\?_state=…&digest=sha256:[0-9a-f]{64}/);
    expect(text).not.toContain('&amp;');
    expect(text).not.toContain('\\_');
    // Tried lines say "this blob" and "the upload session", not the digest and URL again.
    expect(run.summary).toMatch(/- .*the upload session/);
  });

  it('a success summary lists every blob in well-formed GFM tables, one per platform', async () => {
    const dir = join(work, 'multi');
    const multi = await makeLayout(dir, {
      seed: 'summary-multi',
      layers: 3,
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
    });
    const p = await proxy({});
    const run = await runAction(work, {
      layout: dir,
      tags: `${p.host}/summary/multi:1`,
      diagnose: 'never',
    });
    expect(run.code, run.stdout).toBe(0);
    for (const d of multi.blobs) expect(run.summary).toContain(d);
    const html = await marked.parse(run.summary, { gfm: true });
    // On success the blob tables are collapsed, and the state comes first.
    expect(html).toMatch(/<details><summary>Blobs \(8 in 1 repository\)<\/summary>[\s\S]*<table>/);
    const tables = html.match(/<table>[\s\S]*?<\/table>/g) ?? [];
    expect(tables).toHaveLength(2);
    for (const t of tables) {
      expect(t.match(/<th>/g)).toHaveLength(6);
      expect(t).toMatch(/<thead>\s*<tr>\s*<th>state<\/th>/);
      const rows = t.match(/<tbody>[\s\S]*<\/tbody>/)?.[0].match(/<tr>/g) ?? [];
      expect(rows).toHaveLength(4);
      for (const row of t.match(/<tr>[\s\S]*?<\/tr>/g)!.slice(1))
        expect(row.match(/<td>/g)).toHaveLength(6);
    }
    expect(html).toContain('Index of 2 platforms');
    expect(run.summary).toContain(`**Pull it with:** \`docker pull ${p.host}/summary/multi:1\``);
    expect(html).toContain('linux/amd64');
    expect(html).toContain('linux/arm64');
  });

  it('escapes what a registry says: an HTML page or markup in an error never becomes markup', async () => {
    const p = await proxy({ bodyCap: { bytes: MiB, style: 'cloudflare' } });
    const run = await act(p, { 'upload-mode': 'monolithic' });
    const html = await marked.parse(run.summary, { gfm: true });
    expect(html).not.toMatch(/<center>|<hr>|<head>/);
  });
});

describe('secrets', () => {
  it('never appear in the summary, the log or the outputs of a failing run', async () => {
    const password = 'Very-Secret-Pa55word-42';
    const locked = await startRegistry({ htpasswd: { u: password } });
    try {
      const p = await proxy(
        {
          failNth: {
            nth: Array.from({ length: 100 }, (_, i) => i + 1),
            status: 500,
            methods: ['PUT'],
          },
        },
        locked,
      );
      const dockerConfig = join(work, 'secret-config');
      await mkdir(dockerConfig, { recursive: true });
      const auth = Buffer.from(`u:${password}`).toString('base64');
      await writeFile(
        join(dockerConfig, 'config.json'),
        JSON.stringify({ auths: { [p.host]: { auth } } }),
      );
      for (const inputs of [{ username: 'u', password }, {}] as Record<string, string>[]) {
        const run = await act(p, inputs, { DOCKER_CONFIG: dockerConfig });
        expect(run.code).toBe(1);
        const log = (run.stdout + run.stderr).replace(/^::add-mask::.*$/gm, '');
        for (const secret of [password, auth]) {
          expect(log).not.toContain(secret);
          expect(run.summary).not.toContain(secret);
          expect(JSON.stringify(run.outputs)).not.toContain(secret);
        }
        expect(run.stdout).toContain(`::add-mask::${password}`);
      }
    } finally {
      await locked.stop();
    }
  });
});
