// A distant registry as users have it: distribution serving TLS (a certificate made here) behind the
// TCP-level delay link of test/support/tcp-delay.ts, under a host name (containerd dials localhost
// and 127.0.0.1 over plain http). Clients: oci-push on Node 24 (the action) and Node 20 (the CLI), containerd's
// pusher, skopeo. Each case prints the protocol floor beside them, so the distance to the limit is a
// number.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { Agent } from 'undici';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startRegistry } from '../test/support/registry.js';
import { ROOT } from '../test/support/run.js';
import { INPUT_DEFAULTS, Input } from '../src/config/inputs.js';
import { SHARES_PER_PLACE, uploadShares } from '../src/transfer/policy.js';
import { type Containerd, startContainerd } from './containerd.js';
import { LINK_RATE, startTcpDelay } from '../test/support/tcp-delay.js';
import { FAR_HOST, ensureHostName, farCertificates } from '../test/support/far-host.js';

export { FAR_HOST, ensureHostName, farCertificates };

const CLI = join(ROOT, 'dist', 'cli.js');

export interface FarSample {
  ms: number;
  ok: boolean;
  note?: string;
  /** Connections the client opened through the link. */
  connections: number;
}

function run(
  command: string,
  args: string[],
  env?: NodeJS.ProcessEnv,
): Promise<Omit<FarSample, 'connections'>> {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: env ?? process.env,
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      resolve({
        ms,
        ok: code === 0,
        note: code === 0 ? undefined : stderr.trim().split('\n').pop()?.slice(0, 200),
      });
    });
  });
}

export interface FarEnv {
  ca: string;
  /** A folder with ca.crt, for skopeo's --dest-cert-dir. */
  certDir: string;
  containerd: Containerd;
}

export type FarClient = (
  ref: string,
  layout: string,
  env: FarEnv,
) => Promise<Omit<FarSample, 'connections'>>;

export const ociPushOn =
  (node: string): FarClient =>
  (ref, layout, env) =>
    run(node, [CLI, '--layout', layout, '--tags', ref, '--ca-file', env.ca, '--summary', 'false']);

export const skopeoFar: FarClient = (ref, layout, env) =>
  run('skopeo', [
    'copy',
    '--all',
    '--quiet',
    '--dest-cert-dir',
    env.certDir,
    `oci:${layout}`,
    `docker://${ref}`,
  ]);

/** containerd's pusher: the image imported once under the layout's name, tagged, then pushed. */
export const containerdFar: FarClient = async (ref, layout, env) => {
  const name = `bench.local/${layout.split('/').pop()}:1`;
  const tag = await run('ctr', env.containerd.ctr('images', 'tag', '--force', name, ref));
  if (!tag.ok) return tag;
  return run('ctr', env.containerd.ctr('images', 'push', '--tlscacert', env.ca, ref));
};

export interface FarCase {
  name: string;
  rttMs: number;
  layout: string;
  /** Blobs (config and layers, every platform) and their total bytes. */
  blobs: number[];
  manifests: number;
  repush: boolean;
}

/**
 * The least the protocol allows with oci-push's guarantees, in round trips: a TCP and a TLS 1.3
 * handshake; every existence HEAD at once; per wave of uploads (oci-push's places at once) a POST
 * and a PUT; the last blob's verifying HEAD; each level of manifests' PUT; the tag read back. A
 * re-push skips the uploads and verifications. Plus the bytes at the link's rate.
 */
export function farFloor(c: FarCase): { roundTrips: number; ms: number } {
  const places = Number(INPUT_DEFAULTS[Input.concurrency]) * SHARES_PER_PLACE;
  let roundTrips = 2 + 1;
  let bytes = 0;
  if (!c.repush) {
    let shares = 0;
    for (const size of c.blobs)
      shares += uploadShares({ concurrency: places / SHARES_PER_PLACE }, size);
    roundTrips += 2 * Math.ceil(shares / places) + 1;
    bytes = c.blobs.reduce((a, b) => a + b, 0);
  }
  // A re-push whose tag already points at the image writes nothing: the tag's HEAD, beside the
  // blob checks, was its read-back.
  if (!c.repush) roundTrips += (c.manifests > 1 ? 2 : 1) + 1;
  return { roundTrips, ms: roundTrips * c.rttMs + (bytes / LINK_RATE) * 1000 };
}

/** One measurement: a fresh registry behind a fresh link; a re-push pushes once untimed first. */
export async function measureFar(
  c: FarCase,
  client: FarClient,
  env: FarEnv,
  repo: string,
  cert: { certFile: string; keyFile: string },
): Promise<FarSample> {
  const storage = await mkdtemp(join('/dev/shm', 'oci-push-far-'));
  const registry = await startRegistry({ tls: cert, storage });
  const link = await startTcpDelay(registry.port, c.rttMs);
  const ref = `${FAR_HOST}:${link.port}/${repo}:1`;
  try {
    if (c.repush) {
      const first = await client(ref, c.layout, env);
      if (!first.ok) return { ...first, connections: link.connections() };
    }
    const before = link.connections();
    const sample = await client(ref, c.layout, env);
    return { ...sample, connections: link.connections() - before };
  } finally {
    await link.stop();
    await registry.stop();
    await rm(storage, { recursive: true, force: true });
  }
}

export { startContainerd };

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Every blob of a layout (configs and layers of every platform) and how many manifests it has. */
async function contentsOf(layout: string): Promise<{ blobs: number[]; manifests: number }> {
  const read = async (digest: string): Promise<Record<string, unknown>> =>
    JSON.parse(await readFile(join(layout, 'blobs', 'sha256', digest.slice(7)), 'utf8'));
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
  const blobs: number[] = [];
  let manifests = 0;
  const walk = async (descriptor: { digest: string; mediaType?: string }): Promise<void> => {
    const doc = await read(descriptor.digest);
    manifests++;
    if (Array.isArray(doc.manifests)) {
      for (const child of doc.manifests) await walk(child);
      return;
    }
    const m = doc as { config: { size: number }; layers: { size: number }[] };
    blobs.push(m.config.size, ...m.layers.map((l) => l.size));
  };
  await walk(index.manifests[0]);
  return { blobs, manifests };
}

/**
 * One 64 MiB blob PUT over HTTP/2 and over HTTP/1.1 through the 50 ms link, median of 3 each: what
 * HTTP/2's flow-control windows cost a large body (distribution's Go server grants 1 MiB per
 * connection), which decides that blob bodies go on HTTP/1.1.
 */
export async function bodyOverProtocols(cert: {
  certFile: string;
  keyFile: string;
}): Promise<Record<'h1' | 'h2', number>> {
  const storage = await mkdtemp(join('/dev/shm', 'oci-push-far-body-'));
  const registry = await startRegistry({ tls: cert, storage });
  const link = await startTcpDelay(registry.port, 50);
  const origin = `https://${FAR_HOST}:${link.port}`;
  const secureContext = createSecureContext({ ca: await readFile(cert.certFile, 'utf8') });
  const data = randomBytes(64 << 20);
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  const times: Record<'h1' | 'h2', number[]> = { h1: [], h2: [] };
  try {
    for (let round = 0; round < 3; round++)
      for (const protocol of ['h1', 'h2'] as const) {
        const agent = new Agent({ allowH2: protocol === 'h2', connect: { secureContext } });
        const post = await agent.request({
          origin,
          path: `/v2/body/${protocol}${round}/blobs/uploads/`,
          method: 'POST',
        });
        await post.body.text();
        const location = new URL(String(post.headers.location), origin);
        location.searchParams.set('digest', digest);
        const started = performance.now();
        const put = await agent.request({
          origin,
          path: location.pathname + location.search,
          method: 'PUT',
          body: data,
          headers: { 'content-type': 'application/octet-stream' },
        });
        await put.body.text();
        if (put.statusCode !== 201) throw new Error(`PUT over ${protocol}: ${put.statusCode}`);
        times[protocol].push(performance.now() - started);
        await agent.close();
      }
  } finally {
    await link.stop();
    await registry.stop();
    await rm(storage, { recursive: true, force: true });
  }
  return { h1: median(times.h1), h2: median(times.h2) };
}

export interface FarResult {
  c: FarCase;
  samples: Record<string, FarSample[]>;
}

/** The distant-registry cases, clients alternating within each round. */
export async function farCases(
  layouts: { l40: string; l4x64: string; lIndex: string },
  clients: Record<string, FarClient>,
  runs: number,
): Promise<{ results: FarResult[]; body: Record<'h1' | 'h2', number> }> {
  await ensureHostName();
  const { cert, certDir, dir } = await farCertificates();
  const containerd = await startContainerd();
  const env: FarEnv = { ca: cert.certFile, certDir, containerd };
  const cases: FarCase[] = [];
  for (const layout of Object.values(layouts))
    await containerd.importLayout(layout, `bench.local/${layout.split('/').pop()}:1`);
  const describe = async (name: string, rttMs: number, layout: string, repush: boolean) =>
    cases.push({ name, rttMs, layout, repush, ...(await contentsOf(layout)) });
  for (const rttMs of [50, 150]) {
    await describe(`${rttMs} ms, fresh push, 40 × 1 MiB`, rttMs, layouts.l40, false);
    await describe(`${rttMs} ms, re-push, 40 × 1 MiB all present`, rttMs, layouts.l40, true);
  }
  await describe('50 ms, fresh push, 4 × 64 MiB', 50, layouts.l4x64, false);
  await describe('50 ms, fresh push, 2-platform index (2 × 2 × 16 MiB)', 50, layouts.lIndex, false);
  const results: FarResult[] = [];
  const body = await bodyOverProtocols(cert);
  try {
    for (const c of cases) {
      const samples: Record<string, FarSample[]> = Object.fromEntries(
        Object.keys(clients).map((k) => [k, []]),
      );
      for (let round = 0; round < runs; round++) {
        const order = Object.entries(clients);
        if (round % 2) order.reverse();
        for (const [name, client] of order) {
          // skopeo takes minutes at 150 ms (a connection per request): three rounds there.
          if (name === 'skopeo' && c.rttMs > 50 && round >= 3) continue;
          const repo = `bench/${name
            .toLowerCase()
            .replace(/[^a-z0-9]+/g, '-')
            .replace(/^-|-$/g, '')}`;
          samples[name]!.push(await measureFar(c, client, env, repo, cert));
        }
      }
      process.stderr.write(
        `${c.name}: ${Object.entries(samples)
          .map(
            ([k, s]) =>
              `${k} ${s.every((x) => x.ok) ? (median(s.map((x) => x.ms)) / 1000).toFixed(2) : 'FAILED'}`,
          )
          .join(', ')}\n`,
      );
      results.push({ c, samples });
    }
  } finally {
    await containerd.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return { results, body };
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

/** The section of results.md: the table, the floors, and whether each target holds. */
export function farLines(
  { results, body }: { results: FarResult[]; body: Record<'h1' | 'h2', number> },
  runs: number,
): string[] {
  const clients = Object.keys(results[0]?.samples ?? {});
  const med = (r: FarResult, k: string): number =>
    r.samples[k]!.every((s) => s.ok) ? median(r.samples[k]!.map((s) => s.ms)) : Infinity;
  const cell = (r: FarResult, k: string): string => {
    const s = r.samples[k]!;
    if (!s.every((x) => x.ok))
      return `failed: ${(s.find((x) => !x.ok)?.note ?? '').replace(/\|/g, '\\|')}`;
    return `${seconds(median(s.map((x) => x.ms)))} (${median(s.map((x) => x.connections))} conn.)`;
  };
  const lines = [
    '<!-- far:start -->',
    '## A distant registry over TLS (median wall time)',
    '',
    `distribution serving TLS (a certificate made by the bench) as \`${FAR_HOST}\`, behind \`test/support/tcp-delay.ts\`: a TCP-level link that delivers every byte half a round trip late in each direction, lets no byte of a new connection leave until one round trip after it opened (its TCP handshake, paid meanwhile by a client that connects before it has anything to send), and carries ${(LINK_RATE * 8) / 1e9} Gbit/s each way, shared by all connections. TLS, HTTP/2 and everything else pass through it, so each client pays the round trips and handshakes its own protocol needs. Median of ${runs} rounds, clients alternating (skopeo: 3 rounds at 150 ms); "conn." is the connections a push opened.`,
    '',
    "- **oci-push**: `node dist/cli.js --layout DIR --tags far-registry.test:PORT/REPO:1 --ca-file CA`, on Node 24 (the action's runtime) and Node 20 (the CLI's).",
    "- **containerd**: containerd's pusher, the code BuildKit and so docker/build-push-action push with: a `containerd` of the bench's own (root, state and socket in a temporary folder), each image imported once (`ctr images import --all-platforms --no-unpack`), then per push `ctr images tag` and `ctr images push --tlscacert CA` (timed together).",
    '- **skopeo**: `skopeo copy --all --dest-cert-dir DIR oci:DIR docker://…`.',
    "- **floor**: the fewest round trips the protocol allows with oci-push's guarantees kept: a TCP and a TLS 1.3 handshake, every existence HEAD at once, a POST and a PUT per wave of uploads at oci-push's concurrency (64 blobs of at most 1 MiB at once, 4 larger ones), the last blob's verifying HEAD, the manifests (an index after its platforms), and the tag read back; a re-push whose tag already points at the image has no uploads and writes nothing (3 round trips: the handshakes, then the blob and tag HEADs at once; until this run it was counted with a manifest PUT and a read-back, 5). Plus the bytes at the link's rate. Process start is not in it.",
    '',
    `| case | floor | ${clients.join(' | ')} | Node 24 / containerd | Node 20 / containerd | Node 24 / floor | Node 20 / floor |`,
    `| --- | --- | ${clients.map(() => '---').join(' | ')} | --- | --- | --- | --- |`,
  ];
  const targets: string[] = [];
  for (const r of results) {
    const floor = farFloor(r.c);
    const n24 = med(r, 'oci-push (Node 24)');
    const n20 = med(r, 'oci-push (Node 20)');
    const ctr = med(r, 'containerd');
    const ratio = (a: number, b: number): string =>
      Number.isFinite(a) && Number.isFinite(b) ? `${(a / b).toFixed(2)}×` : '—';
    lines.push(
      `| ${r.c.name} | ${seconds(floor.ms)} (${floor.roundTrips} RTT${r.c.repush ? '' : ' + bytes'}) | ${clients.map((k) => cell(r, k)).join(' | ')} | ${ratio(n24, ctr)} | ${ratio(n20, ctr)} | ${ratio(n24, floor.ms)} | ${ratio(n20, floor.ms)} |`,
    );
    if (r.c.name.includes('index')) continue;
    for (const [who, t] of [
      ['Node 24', n24],
      ['Node 20', n20],
    ] as const)
      targets.push(
        `| ${r.c.name}, oci-push on ${who}: ≤ containerd and ≤ 1.3 × floor | ${ratio(t, ctr)} of containerd, ${ratio(t, floor.ms)} of the floor | ${t <= ctr && t <= 1.3 * floor.ms ? 'yes' : 'no'} |`,
      );
  }
  lines.push(
    '',
    `One 64 MiB blob body at 50 ms (median of 3): HTTP/1.1 ${seconds(body.h1)}, HTTP/2 ${seconds(body.h2)}. HTTP/2's flow-control windows hold a large body to a window a round trip, so blob bodies go on HTTP/1.1 connections of their own; everything else shares one HTTP/2 connection.`,
  );
  lines.push('', '| target | measured | met |', '| --- | --- | --- |', ...targets);
  lines.push(
    '',
    'Reproduce this section alone: `BENCH_ONLY=far npm run bench` (as root: it installs containerd and adds the host name to /etc/hosts).',
    '<!-- far:end -->',
    '',
  );
  return lines;
}
