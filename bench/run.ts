// `npm run bench`: oci-push against skopeo and a curl floor, in the same run on the same machine.
// Every measurement gets a fresh registry (Debian's CNCF distribution with empty storage), so nothing
// is skipped or mounted unless the case is about that. Clients alternate within each round, and the
// median of RUNS rounds is reported. A full run writes bench/results.md; `BENCH_ONLY=wan` or
// `BENCH_ONLY=loopback` runs one part and prints its tables.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { type RunningNginx, startNginx } from '../test/support/nginx.js';
import { ensurePrerequisites } from '../test/support/prerequisites.js';
import { type RunningRegistry, startRegistry } from '../test/support/registry.js';
import { ROOT } from '../test/support/run.js';
import { type DelayProxy, startDelayProxy } from './delay-proxy.js';
import { INPUT_DEFAULTS, Input } from '../src/config/inputs.js';
import { SHARES_PER_PLACE, SMALL_BLOB, uploadShares } from '../src/transfer/policy.js';
import { DATA, MiB, derivedLayout, layout } from './layouts.js';
import { bundle } from '../scripts/bundle-config.mjs';
import { REQUIRED } from '../test/support/prerequisites.js';
import { containerdFar, farCases, farLines, ociPushOn, skopeoFar } from './far.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ONLY = process.env.BENCH_ONLY as 'wan' | 'loopback' | 'derived' | 'far' | undefined;
const CLI = join(ROOT, 'dist', 'cli.js');
/**
 * Where registries keep their storage: memory. The registry's disk is not the client's (a real one
 * runs elsewhere), and on one small machine its writes of hundreds of MB, and their writeback during
 * the next measurement, made the same command vary by a third. `disk: true` measures on disk.
 */
const TMPFS = '/dev/shm';

// ---------- clients ----------

interface Sample {
  ms: number;
  ok: boolean;
  /** CPU seconds (user + system) of the client and the processes it waited for. */
  cpuS?: number;
  rssKb?: number;
  note?: string;
  /** Requests the delay proxy saw, and when the first arrived and the last answer ended. */
  requests?: number;
  spanMs?: number;
}

const TIME_FORMAT = 'oci-push-bench: %U %S %M';

function timed(command: string, args: string[]): Promise<Sample> {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', TIME_FORMAT, command, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const usage = /oci-push-bench: ([\d.]+) ([\d.]+) (\d+)/.exec(stderr);
      const ok = code === 0;
      const note = ok
        ? undefined
        : (
            stderr.match(/(413[^\n]*|Request Entity Too Large[^\n]*|error[^\n]*)/i)?.[0] ??
            stderr.trim().split('\n').pop()
          )?.slice(0, 160);
      resolve({
        ms,
        ok,
        cpuS: usage ? Number(usage[1]) + Number(usage[2]) : undefined,
        rssKb: usage ? Number(usage[3]) : undefined,
        note,
      });
    });
  });
}

type Client = (host: string, dir: string, repo: string) => Promise<Sample>;

const ociPush =
  (extra: string[] = [], node = process.execPath): Client =>
  (host, dir, repo) =>
    timed(node, [
      CLI,
      '--layout',
      dir,
      '--tags',
      `${host}/${repo}:1`,
      '--summary',
      'false',
      ...extra,
    ]);

const skopeo: Client = (host, dir, repo) =>
  timed('skopeo', [
    'copy',
    '--all',
    '--quiet',
    '--dest-tls-verify=false',
    `oci:${dir}`,
    `docker://${host}/${repo}:1`,
  ]);

/**
 * The floor: for each blob one POST and one streamed PUT, `parallel` at once, and nothing else (no
 * manifest, no checks). Two curl processes, one for the POSTs and one for the PUTs, each with
 * `--parallel` so its transfers share its connections: process starts (curl costs ~20 ms of CPU
 * each) do not pad the floor, and a distant registry's round trips are all it waits for.
 */
const curlFloor =
  (parallel = 4): Client =>
  async (host, dir, repo) => {
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    const m = JSON.parse(
      await readFile(join(dir, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'),
    );
    const blobs: string[] = [m.config.digest, ...m.layers.map((l: { digest: string }) => l.digest)];
    const list = blobs.map((b) => b.slice(7)).join(' ');
    // `Expect:` off: curl would otherwise wait a round trip for `100 Continue` before each body.
    const script = [
      'set -e',
      'd=$(mktemp -d); trap \'rm -rf "$d"\' EXIT',
      'posts=(); puts=()',
      `for b in ${list}; do if [ \${#posts[@]} -gt 0 ]; then posts+=(--next); fi; posts+=(-s -f -X POST -o /dev/null -D "$d/$b" "http://${host}/v2/${repo}/blobs/uploads/"); done`,
      `curl -s --parallel --parallel-immediate --parallel-max ${parallel} "\${posts[@]}"`,
      `for b in ${list}; do loc=$(tr -d '\\r' < "$d/$b" | sed -n 's/^[Ll]ocation: //p'); if [ \${#puts[@]} -gt 0 ]; then puts+=(--next); fi; puts+=(-s -f -T "${dir}/blobs/sha256/$b" -H 'Content-Type: application/octet-stream' -H 'Expect:' -o /dev/null "$loc&digest=sha256:$b"); done`,
      `curl -s --parallel --parallel-immediate --parallel-max ${parallel} "\${puts[@]}"`,
    ].join('\n');
    return timed('bash', ['-c', script]);
  };

// ---------- the cases ----------

interface CaseResult {
  name: string;
  clients: Record<string, Sample[]>;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

type Front = { host: string; stop(): Promise<void>; log?: DelayProxy['log'] };

async function measure(
  name: string,
  dir: string,
  clients: Record<string, Client>,
  options: {
    via?: (registry: RunningRegistry) => Promise<Front>;
    prepare?: (host: string) => Promise<void>;
    runs?: number;
    /** Run the client once, untimed, before the timed run: a registry that has served this before. */
    warmup?: boolean;
    /** Keep the registry's storage on this machine's disk (a temporary folder) instead of in memory. */
    disk?: boolean;
  } = {},
): Promise<CaseResult> {
  const result: CaseResult = {
    name,
    clients: Object.fromEntries(Object.keys(clients).map((k) => [k, []])),
  };
  for (let round = 0; round < (options.runs ?? RUNS); round++) {
    // Alternate the order each round so no client always runs on a warmer machine.
    const order = Object.entries(clients);
    if (round % 2) order.reverse();
    for (const [client, run] of order) {
      const storage = options.disk
        ? undefined
        : join(TMPFS, `oci-push-bench-${process.pid}-${round}`);
      const registry = await startRegistry(storage ? { storage } : {});
      const front = options.via ? await options.via(registry) : undefined;
      const host = front?.host ?? registry.host;
      try {
        await options.prepare?.(host);
        const repo = `bench/${client
          .toLowerCase()
          .replace(/[^a-z0-9]+/g, '-')
          .replace(/^-|-$/g, '')}`;
        if (options.warmup) await run(host, dir, repo);
        const skip = front?.log?.length ?? 0;
        const sample = await run(host, dir, repo);
        const log = front?.log?.slice(skip);
        if (log?.length) {
          sample.requests = log.length;
          sample.spanMs =
            Math.max(...log.map((e) => e.finished)) - Math.min(...log.map((e) => e.arrived));
        }
        result.clients[client]!.push(sample);
      } finally {
        await front?.stop();
        await registry.stop();
        if (storage) await rm(storage, { recursive: true, force: true });
        // Nothing one measurement wrote is still being written back during the next.
        execFileSync('sync');
      }
    }
  }
  const line = Object.entries(result.clients)
    .map(
      ([c, s]) =>
        `${c} ${s.every((x) => x.ok) ? `${(median(s.map((x) => x.ms)) / 1000).toFixed(2)} s` : 'FAILED'}`,
    )
    .join(', ');
  process.stderr.write(`${name}: ${line}\n`);
  return result;
}

// ---------- report ----------

function fmt(samples: Sample[]): string {
  if (!samples.length) return '—';
  if (!samples.every((s) => s.ok))
    return `failed (${samples.filter((s) => !s.ok).length}/${samples.length}): ${samples.find((s) => !s.ok)?.note ?? ''}`.replace(
      /\|/g,
      '\\|',
    );
  return `${(median(samples.map((s) => s.ms)) / 1000).toFixed(2)} s`;
}

const med = (r: CaseResult, c: string, of: (s: Sample) => number = (s) => s.ms): number =>
  median(r.clients[c]!.map(of));

function table(cases: CaseResult[]): string[] {
  const clients = [...new Set(cases.flatMap((c) => Object.keys(c.clients)))];
  const lines = [
    `| case | ${clients.join(' | ')} |`,
    `| --- | ${clients.map(() => '---').join(' | ')} |`,
  ];
  for (const c of cases)
    lines.push(
      `| ${c.name} | ${clients.map((k) => (c.clients[k] ? fmt(c.clients[k]!) : '—')).join(' | ')} |`,
    );
  return lines;
}

// ---------- a distant registry ----------

/** oci-push's default upload places; a blob of at most SMALL_BLOB takes a share of one. */
const PLACES = Number(INPUT_DEFAULTS[Input.concurrency]);

interface WanCase {
  rttMs: number;
  blobs: number;
  blobSize: number;
  result: CaseResult;
  /** Loopback time of the bytes alone: the curl floor of the same image, or 0 when not measured. */
  bytesMs: number;
}

/**
 * The least the protocol allows at oci-push's concurrency, in round trips: a connection and
 * `GET /v2/`, one round trip to open the parallel connections, a POST and a PUT for each wave of
 * blobs, and the manifest PUT. oci-push adds, on the critical path, the first existence check and the
 * last verification: every other check overlaps other blobs' uploads.
 */
function floorRoundTrips(blobs: number, blobSize: number): { protocol: number; checked: number } {
  const atOnce = (PLACES * SHARES_PER_PLACE) / uploadShares({ concurrency: PLACES }, blobSize);
  const waves = Math.ceil(blobs / atOnce);
  const protocol = 2 + 1 + 2 * waves + 1;
  return { protocol, checked: protocol + 2 };
}

function wanLines(wan: WanCase[]): string[] {
  const lines = [
    '| case | oci-push | skopeo | curl floor | oci-push / curl | floor (protocol) | floor (with oci-push checks) | requests per blob, oci-push / skopeo | proxy busy, oci-push (round trips) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const w of wan) {
    const { protocol, checked } = floorRoundTrips(w.blobs + 1, w.blobSize);
    const perBlob = (c: string): string =>
      (med(w.result, c, (s) => s.requests ?? 0) / (w.blobs + 1)).toFixed(1);
    const span = med(w.result, 'oci-push', (s) => s.spanMs ?? 0);
    const floor = (rt: number): string =>
      `${((rt * w.rttMs + w.bytesMs) / 1000).toFixed(2)} s (${rt} RTT${w.bytesMs ? ' + bytes' : ''})`;
    lines.push(
      `| ${w.result.name} | ${fmt(w.result.clients['oci-push']!)} | ${fmt(w.result.clients.skopeo!)} | ${fmt(w.result.clients.curl!)} | ${(med(w.result, 'oci-push') / med(w.result, 'curl')).toFixed(2)}× | ${floor(protocol)} | ${floor(checked)} | ${perBlob('oci-push')} / ${perBlob('skopeo')} | ${(span / w.rttMs).toFixed(1)} |`,
    );
  }
  return lines;
}

async function wanCases(bytesMs: (blobSize: number) => number): Promise<WanCase[]> {
  const l40 = await layout('40x1MiB', 40, MiB);
  const l4x64 = await layout('4x64MiB', 4, 64 * MiB);
  const out: WanCase[] = [];
  for (const rttMs of [50, 150]) {
    const via = (registry: RunningRegistry): Promise<Front> => startDelayProxy(registry, rttMs);
    for (const [dir, blobs, blobSize] of [
      [l40, 40, MiB],
      [l4x64, 4, 64 * MiB],
    ] as const) {
      const name = `${rttMs} ms per request, fresh push, ${blobs} × ${blobSize / MiB} MiB`;
      const atOnce = blobSize <= SMALL_BLOB ? PLACES * SHARES_PER_PLACE : PLACES;
      const result = await measure(
        name,
        dir,
        { 'oci-push': ociPush(), skopeo, curl: curlFloor(atOnce) },
        { via },
      );
      out.push({ rttMs, blobs, blobSize, result, bytesMs: bytesMs(blobSize) });
    }
  }
  return out;
}

// ---------- start-up and bundle ----------

/** `node dist/cli.js --version` against `node -e 0`, alternating, median of 11 each (milliseconds). */
async function startUp(): Promise<{ bare: number; cli: number }> {
  const bare: number[] = [];
  const cli: number[] = [];
  for (let i = 0; i < 11; i++) {
    const runs = [
      async () => bare.push((await timed(process.execPath, ['-e', '0'])).ms),
      async () => cli.push((await timed(process.execPath, [CLI, '--version'])).ms),
    ];
    if (i % 2) runs.reverse();
    for (const run of runs) await run();
  }
  return { bare: median(bare), cli: median(cli) };
}

/** dist/'s size in KiB, and how many copies of undici esbuild put in it. */
async function bundleFacts(): Promise<{ kib: number; undiciCopies: number }> {
  const out = await mkdtemp(join(tmpdir(), 'oci-push-bench-dist-'));
  try {
    const meta = await bundle(out);
    let bytes = 0;
    for (const entry of await readdir(out, { recursive: true, withFileTypes: true }))
      if (entry.isFile()) bytes += (await stat(join(entry.parentPath, entry.name))).size;
    const copies = new Set(
      Object.keys(meta.inputs).flatMap((i) => /^(.*node_modules\/undici)\//.exec(i)?.[1] ?? []),
    );
    return { kib: bytes / 1024, undiciCopies: copies.size };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

// ---------- main ----------

/**
 * An image built FROM a base already in the registry (3 × 64 MiB in `base/app`, pushed before each
 * measurement): oci-push told where the base is (`mount-from`), skopeo with an empty blob cache (a
 * fresh runner's), and the floor: oci-push re-pushing the same image, every blob present.
 */
async function derivedCases(): Promise<{
  derived: CaseResult;
  floor: CaseResult;
  lines: string[];
}> {
  const base = await layout('4x64MiB', 4, 64 * MiB);
  const image = await derivedLayout(base, 'derived-4x64MiB+16MiB', 16 * MiB);
  const pushBase = async (host: string): Promise<void> => {
    const r = await ociPush()(host, base, 'base/app');
    if (!r.ok) throw new Error(`the base could not be pushed: ${r.note}`);
  };
  const derived = await measure(
    'derived image: 4 × 64 MiB base in another repository, 1 × 16 MiB of its own',
    image,
    { 'oci-push': ociPush(['--mount-from', 'base/app:1']), skopeo },
    { prepare: pushBase },
  );
  const floor = await measure(
    're-push of the same derived image (every blob present)',
    image,
    { 'oci-push': ociPush() },
    { prepare: pushBase, warmup: true },
  );
  const ratio = med(derived, 'oci-push') / med(floor, 'oci-push');
  const lines = [
    '<!-- derived:start -->',
    '## Derived image (mounting from the base)',
    '',
    ...table([derived, floor]),
    '',
    `oci-push pushing the derived image takes **${ratio.toFixed(2)}×** its re-push floor (target ≤ 1.3×); skopeo, with no blob cache, uploads the base again. Reproduce this section alone: \`BENCH_ONLY=derived npm run bench\`.`,
    '<!-- derived:end -->',
    '',
  ];
  return { derived, floor, lines };
}

/** Writes one section of results.md in place (between its markers), or appends it. */
async function writeSection(name: string, lines: string[]): Promise<void> {
  const file = join(ROOT, 'bench', 'results.md');
  const current = await readFile(file, 'utf8');
  const open = `<!-- ${name}:start -->`;
  const close = `<!-- ${name}:end -->\n`;
  const start = current.indexOf(open);
  const end = current.indexOf(close);
  const next =
    start >= 0 && end > start
      ? `${current.slice(0, start)}${lines.join('\n')}${current.slice(end + close.length)}`
      : `${current.trimEnd()}\n\n${lines.join('\n')}`;
  await writeFile(file, next);
  process.stderr.write(`${lines.join('\n')}\n`);
}

/** The distant TLS registry against containerd's pusher (see far.ts). */
async function farSection(
  node24: string,
  layouts: Parameters<typeof farCases>[0],
): Promise<string[]> {
  const measured = await farCases(
    layouts,
    {
      'oci-push (Node 24)': ociPushOn(node24),
      'oci-push (Node 20)': ociPushOn(process.execPath),
      containerd: containerdFar,
      skopeo: skopeoFar,
    },
    RUNS,
  );
  return farLines(measured, RUNS);
}

async function main(): Promise<void> {
  // containerd's pusher is the distant case's peer.
  ensurePrerequisites({ ...REQUIRED, '/usr/bin/ctr': 'containerd' });
  if (!existsSync('/usr/bin/time'))
    execFileSync('apt-get', ['install', '-y', 'time'], { stdio: 'inherit' });
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'bundle.mjs')], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  // The action's own runtime (action.yml: node24), beside the CLI's Node 20 that runs this file.
  const node24 = execFileSync('bash', [join(ROOT, 'scripts', 'node24.sh')], {
    encoding: 'utf8',
  }).trim();
  const onNode24 = ociPush([], node24);
  await mkdir(DATA, { recursive: true });
  process.stderr.write('preparing layouts in bench/.data …\n');
  const l4x64 = await layout('4x64MiB', 4, 64 * MiB);
  const l1g = await layout('1x1GiB', 1, 1024 * MiB);
  const l40 = await layout('40x1MiB', 40, MiB);
  const lIndex = await layout('index-2x2x16MiB', 2, 16 * MiB, 2);

  if (ONLY === 'derived') {
    // This section alone, written into results.md in place of the one there.
    await writeSection('derived', (await derivedCases()).lines);
    return;
  }
  if (ONLY === 'far') {
    await writeSection('far', await farSection(node24, { l40, l4x64, lIndex }));
    return;
  }
  const cases: CaseResult[] = [];
  let fresh: CaseResult | undefined;
  let many: CaseResult | undefined;
  let big: CaseResult | undefined;
  if (ONLY !== 'wan') {
    fresh = await measure('fresh push, 4 × 64 MiB', l4x64, {
      'oci-push': ociPush(),
      'oci-push (Node 24)': onNode24,
      skopeo,
      curl: curlFloor(4),
    });
    cases.push(fresh);
    big = await measure('fresh push, 1 × 1 GiB', l1g, {
      'oci-push': ociPush(),
      'oci-push (Node 24)': onNode24,
      skopeo,
      curl: curlFloor(1),
    });
    cases.push(big);
    many = await measure('fresh push, 40 × 1 MiB', l40, {
      'oci-push': ociPush(),
      'oci-push (Node 24)': onNode24,
      skopeo,
      curl: curlFloor(PLACES * SHARES_PER_PLACE),
    });
    cases.push(many);
  }
  const wan =
    ONLY === 'loopback'
      ? []
      : await wanCases((size) => {
          // The bytes' own time on loopback, from the curl floor when it ran, for the 64 MiB floor.
          if (size <= SMALL_BLOB || !fresh) return 0;
          return med(fresh, 'curl');
        });
  // The two headline cases once more with the registry's storage on this machine's disk.
  const onDisk: CaseResult[] = [];
  if (ONLY !== 'wan')
    onDisk.push(
      await measure(
        'fresh push, 4 × 64 MiB, registry storage on disk',
        l4x64,
        { 'oci-push': ociPush(), skopeo, curl: curlFloor(4) },
        { disk: true },
      ),
    );
  if (ONLY !== 'loopback')
    onDisk.push(
      await measure(
        '50 ms per request, fresh push, 40 × 1 MiB, registry storage on disk',
        l40,
        { 'oci-push': ociPush(), skopeo },
        { disk: true, via: (registry) => startDelayProxy(registry, 50) },
      ),
    );
  if (ONLY === 'wan') {
    process.stderr.write(`${wanLines(wan).join('\n')}\n${table(onDisk).join('\n')}\n`);
    return;
  }
  cases.push(
    await measure('fresh push, 2-platform index (2 × 2 × 16 MiB)', lIndex, {
      'oci-push': ociPush(),
      skopeo,
    }),
  );
  const pushOnce = async (host: string): Promise<void> => {
    execFileSync(process.execPath, [CLI, '--layout', l40, '--tags', `${host}/bench/oci-push:1`], {
      stdio: 'ignore',
    });
    execFileSync(process.execPath, [CLI, '--layout', l40, '--tags', `${host}/bench/skopeo:1`], {
      stdio: 'ignore',
    });
  };
  const repush = await measure(
    're-push, 40 × 1 MiB all present',
    l40,
    { 'oci-push': ociPush(), 'oci-push (Node 24)': onNode24, skopeo },
    { prepare: pushOnce, warmup: true },
  );
  cases.push(repush);
  const chunked = await measure('forced chunked, 4 × 64 MiB in 16 MiB chunks', l4x64, {
    'oci-push': ociPush(['--upload-mode', 'chunked', '--chunk-size', '16MiB']),
    'oci-push monolithic': ociPush(['--upload-mode', 'monolithic']),
    skopeo,
  });
  cases.push(chunked);
  const viaNginx = (registry: RunningRegistry): Promise<RunningNginx> => startNginx(registry, '1m');
  const capped = await measure(
    'through nginx, client_max_body_size 1m, 4 × 64 MiB',
    l4x64,
    { 'oci-push': ociPush(), skopeo },
    { via: viaNginx, runs: Math.min(RUNS, 5) },
  );
  cases.push(capped);

  process.stderr.write('peak RSS with a 1 GiB layer …\n');
  const rss = await measure(
    'peak RSS, 1 × 1 GiB',
    l1g,
    {
      'oci-push monolithic': ociPush(['--upload-mode', 'monolithic']),
      'oci-push chunked (50 MiB)': ociPush(['--upload-mode', 'chunked']),
    },
    { runs: 1 },
  );

  process.stderr.write('start-up and bundle …\n');
  const start = await startUp();
  const dist = await bundleFacts();

  if (ONLY === 'loopback' || !fresh || !many || !big) {
    process.stderr.write(`${table(cases).join('\n')}\n${table(onDisk).join('\n')}\n`);
    return;
  }
  const rssMb = (c: string): number =>
    Math.max(...rss.clients[c]!.map((s) => (s.rssKb ?? 0) / 1024));
  /** CPU seconds per GiB pushed: the median CPU time of the whole process over the image's GiB. */
  const cpuPerGiB = (r: CaseResult, c: string, gib: number): string =>
    (med(r, c, (s) => s.cpuS ?? NaN) / gib).toFixed(2);
  const wan50 = wan.find((w) => w.rttMs === 50 && w.blobs === 40)!;
  const allOk = (r: CaseResult, c: string): boolean => r.clients[c]!.every((x) => x.ok);
  /** A client's median over curl's in the same case; a failed run counts as infinitely slow. */
  const vsCurl = (r: CaseResult, c: string): number =>
    allOk(r, c) && allOk(r, 'curl') ? med(r, c) / med(r, 'curl') : Infinity;
  const targets = [
    [
      'fresh push 4 × 64 MiB ≤ 0.8 × skopeo',
      med(fresh, 'oci-push') / med(fresh, 'skopeo'),
      0.8,
      '×',
    ],
    ['fresh push 4 × 64 MiB ≤ 1.15 × curl floor', vsCurl(fresh, 'oci-push'), 1.15, '×'],
    [
      '50 ms per request, fresh 40 × 1 MiB ≤ 1.6 s (whole process)',
      wan50.result.clients['oci-push']!.every((s) => s.ok)
        ? med(wan50.result, 'oci-push') / 1000
        : Infinity,
      1.6,
      's',
    ],
    ['fresh push 1 × 1 GiB ≤ 1.05 × curl floor', vsCurl(big, 'oci-push'), 1.05, '×'],
    [
      'CPU per GiB pushed, 1 × 1 GiB (whole process) ≤ 1.5 s',
      med(big, 'oci-push', (x) => x.cpuS ?? NaN),
      1.5,
      's',
    ],
    [
      '50 ms per request, fresh 40 × 1 MiB ≤ 1.5 × curl floor (64 at once)',
      vsCurl(wan50.result, 'oci-push'),
      1.5,
      '×',
    ],
    ['re-push of 40 present layers ≤ 0.3 s', med(repush, 'oci-push') / 1000, 0.3, 's'],
    [
      'on Node 24 (the action): fresh push 4 × 64 MiB ≤ 1.15 × curl floor',
      vsCurl(fresh, 'oci-push (Node 24)'),
      1.15,
      '×',
    ],
    [
      'on Node 24 (the action): fresh push 1 × 1 GiB ≤ 1.05 × curl floor',
      vsCurl(big, 'oci-push (Node 24)'),
      1.05,
      '×',
    ],
    [
      'on Node 24 (the action): re-push of 40 present layers ≤ 0.3 s',
      med(repush, 'oci-push (Node 24)') / 1000,
      0.3,
      's',
    ],
    ['`node dist/cli.js --version` ≤ `node -e 0` + 60 ms', start.cli - start.bare, 60, 'ms'],
    [
      'dist/ ≤ 600 KiB, one copy of undici',
      dist.undiciCopies === 1 ? dist.kib : Infinity,
      600,
      'KiB',
    ],
    [
      'through the 1 MB nginx cap ≤ 2 × uncapped',
      capped.clients['oci-push']!.every((s) => s.ok)
        ? med(capped, 'oci-push') / med(fresh, 'oci-push')
        : Infinity,
      2,
      '×',
    ],
    ['peak RSS, 1 GiB layer, monolithic ≤ 100 MB', rssMb('oci-push monolithic'), 100, 'MB'],
    ['peak RSS, 1 GiB layer, chunked ≤ 100 MB', rssMb('oci-push chunked (50 MiB)'), 100, 'MB'],
  ] as const;

  const lines: string[] = [];
  lines.push('# Benchmark results', '');
  lines.push(
    `Written by \`npm run bench\` (bench/run.ts) on ${new Date().toISOString().slice(0, 10)}: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${execFileSync('skopeo', ['--version'], { encoding: 'utf8' }).trim()}, ${execFileSync('docker-registry', ['--version'], { encoding: 'utf8' }).trim()}.`,
    '',
  );
  lines.push('## Method', '');
  lines.push(
    "- Every measurement starts a fresh registry (Debian's CNCF distribution on 127.0.0.1, empty storage) so nothing is skipped or mounted, except the re-push case: it pushes the image first, then each client re-pushes once untimed (a registry that has served the requests before, as a long-running one has) and once timed.",
    "- The registry keeps its storage in memory (`/dev/shm`), and `sync` runs between measurements: a real registry's disk is not the client's, and on this 2-core machine the registry's disk writes (and their writeback during the next measurement) made the same command vary by a third. The last section measures the headline cases on disk.",
    `- In each of ${RUNS} rounds the clients run in turn, in alternating order; the tables give the median wall time of the whole process.`,
    '- Layers are incompressible (AES-CTR keystream), written once into `bench/.data/`.',
    `- \`oci-push\`: \`node dist/cli.js --layout DIR --tags HOST/REPO:1\` (defaults: auto upload mode, concurrency 4, so up to 64 blobs of at most 1 MiB at once), on Node ${process.version}, the CLI's; \`oci-push (Node 24)\`: the same on Node ${execFileSync(node24, ['--version'], { encoding: 'utf8' }).trim()}, the action's runtime. \`skopeo\`: \`skopeo copy --all oci:DIR docker://HOST/REPO:1\`.`,
    '- `curl`: the floor: for each blob one POST and one streamed `curl -T` PUT, 4 blobs at once (1 for the single-layer case, 64 for blobs of at most 1 MiB, as oci-push sends them); no manifest, no existence checks, no verification. Two curl processes, one for every POST and one for every PUT, each with `--parallel` so its transfers share its connections and no process start per blob pads the floor.',
    '- CPU: user + system seconds from `/usr/bin/time` (for curl, the shell and every curl it started). Peak RSS: its maximum resident set size, one run each.',
    '- Absolute times do not carry from one machine to another; compare ratios measured in the same run.',
    '',
  );
  lines.push('## Loopback (median wall time)', '', ...table(cases), '');
  lines.push(
    '| CPU seconds per GiB pushed (median, whole process) | oci-push | skopeo | curl |',
    '| --- | --- | --- | --- |',
    `| fresh push, 4 × 64 MiB | ${cpuPerGiB(fresh, 'oci-push', 0.25)} | ${cpuPerGiB(fresh, 'skopeo', 0.25)} | ${cpuPerGiB(fresh, 'curl', 0.25)} |`,
    `| fresh push, 1 × 1 GiB | ${cpuPerGiB(big, 'oci-push', 1)} | ${cpuPerGiB(big, 'skopeo', 1)} | ${cpuPerGiB(big, 'curl', 1)} |`,
    '',
    "oci-push's CPU includes Node's start and, on Node 20, V8 optimising undici's WebAssembly HTTP parser in the background (about 0.2 s of CPU whatever the size: most of the 4 × 64 MiB row). It does not hash what it sends: the registry checks every blob against its digest, and the local file is hashed only to explain a `DIGEST_INVALID`.",
    '',
    `Start-up (median of 11, alternating): \`node -e 0\` ${start.bare.toFixed(0)} ms, \`node dist/cli.js --version\` ${start.cli.toFixed(0)} ms (${(start.cli - start.bare).toFixed(0)} ms more). \`dist/\`: ${dist.kib.toFixed(0)} KiB, ${dist.undiciCopies} cop${dist.undiciCopies === 1 ? 'y' : 'ies'} of undici.`,
    '',
    `Peak RSS with a 1 GiB layer: monolithic ${rssMb('oci-push monolithic').toFixed(0)} MB, chunked (50 MiB chunks) ${rssMb('oci-push chunked (50 MiB)').toFixed(0)} MB.`,
    '',
  );
  lines.push(
    '## A distant registry (median wall time)',
    '',
    "`bench/delay-proxy.ts` stands in front of the registry and holds every request one round trip (50 or 150 ms) before forwarding it, and the first request on a new connection one more (its TCP handshake); bytes move at loopback speed. The registry keeps its storage in memory (`/dev/shm`): a distant registry's disk is not the runner's, and on this 2-core machine the registry's disk writes otherwise compete with the client. The last table gives the headline case with storage on disk.",
    '',
    "- **floor (protocol)**: the least the protocol allows at oci-push's concurrency (64 blobs of at most 1 MiB at once, 4 larger ones): a connection and `GET /v2/`, one round trip to open the parallel connections, a POST and a PUT per wave of blobs, the manifest PUT; for 64 MiB layers plus the bytes' own time on loopback (the curl floor above). Process start is not in it.",
    "- **floor (with oci-push checks)**: the same plus the two round trips oci-push's guarantees put on the critical path: the first existence check (HEAD) before the first upload, and the last verification (HEAD) before the manifest. Every other check overlaps other blobs' uploads.",
    '- **requests per blob**: every request the proxy saw (including `GET /v2/` and the manifest) over the blobs (layers and config). oci-push sends, per blob, an existence HEAD, a POST, a PUT and a verifying HEAD.',
    "- **proxy busy**: from the first request's arrival to the last answer, in round trips, for oci-push: the round trips on its critical path, plus the time the registry took to answer under load.",
    '',
    ...wanLines(wan),
    '',
  );
  lines.push(
    '## Registry storage on disk (median wall time)',
    '',
    "The headline cases again with the registry's storage in a temporary folder on this machine's disk, as earlier versions of this file measured everything. The registry's writes compete with the client for the same two cores and disk, so these vary more from run to run.",
    '',
    ...table(onDisk),
    '',
  );
  lines.push(...(await derivedCases()).lines);
  lines.push(...(await farSection(node24, { l40, l4x64, lIndex })));
  lines.push('## Targets', '', '| target | measured | met |', '| --- | --- | --- |');
  for (const [what, value, limit, unit] of targets) {
    const shown = Number.isFinite(value)
      ? `${value.toFixed(unit === 'ms' || unit === 'KiB' ? 0 : 2)}${unit === '×' ? '×' : ` ${unit}`}`
      : 'failed';
    const margin = Number.isFinite(value)
      ? ` (${value <= limit ? `${((1 - value / limit) * 100).toFixed(0)}% under` : `${((value / limit - 1) * 100).toFixed(0)}% over`} the limit)`
      : '';
    lines.push(`| ${what} | ${shown}${margin} | ${value <= limit ? 'yes' : 'no'} |`);
  }
  lines.push(
    '',
    'Reproduce: `npm ci && npm run bench` (as root on Debian, it installs the registry, skopeo, nginx, containerd and time if missing). `BENCH_RUNS=N` changes the number of rounds; `BENCH_ONLY=wan` or `BENCH_ONLY=loopback` runs one part and prints it instead of writing this file; `BENCH_ONLY=derived` and `BENCH_ONLY=far` rewrite their own section.',
    '',
  );
  await writeFile(join(ROOT, 'bench', 'results.md'), lines.join('\n'));
  process.stderr.write(`${lines.slice(lines.indexOf('## Targets')).join('\n')}\n`);
}

await main();
