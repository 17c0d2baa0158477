// `npm run bench`: oci-push against skopeo and a curl floor, in the same run on the same machine.
// Every measurement gets a fresh registry (Debian's CNCF distribution with empty storage), so nothing
// is skipped or mounted unless the case is about that. Clients alternate within each round, and the
// median of RUNS rounds is reported. Writes bench/results.md.
import { execFileSync, spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { type RunningNginx, startNginx } from '../test/support/nginx.js';
import { ensurePrerequisites } from '../test/support/prerequisites.js';
import { type RunningRegistry, startRegistry } from '../test/support/registry.js';
import { ROOT } from '../test/support/run.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const DATA = join(ROOT, 'bench', '.data');
const MiB = 1 << 20;
const CLI = join(ROOT, 'dist', 'cli.js');

// ---------- image layouts with incompressible layers, written as streams ----------

async function randomBlob(
  dir: string,
  seed: string,
  size: number,
): Promise<{ digest: string; size: number }> {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const hash = createHash('sha256');
  const tmp = join(dir, 'blobs', 'sha256', `.tmp-${seed.replace(/\W/g, '_')}`);
  const out = createWriteStream(tmp);
  const zeros = Buffer.alloc(4 * MiB);
  for (let written = 0; written < size;) {
    const n = Math.min(zeros.length, size - written);
    const chunk = cipher.update(zeros.subarray(0, n));
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    written += n;
  }
  await new Promise<void>((r) => out.end(() => r()));
  const digest = `sha256:${hash.digest('hex')}`;
  await rename(tmp, join(dir, 'blobs', 'sha256', digest.slice(7)));
  return { digest, size };
}

async function jsonBlob(dir: string, value: unknown): Promise<{ digest: string; size: number }> {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

async function manifest(
  dir: string,
  name: string,
  layers: number,
  layerSize: number,
  arch = 'amd64',
) {
  const blobs = [];
  for (let i = 0; i < layers; i++)
    blobs.push(await randomBlob(dir, `${name}/${arch}/${i}`, layerSize));
  const config = await jsonBlob(dir, {
    architecture: arch,
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: blobs.map((b) => b.digest) },
  });
  const doc = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: blobs.map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...b })),
  };
  return {
    mediaType: doc.mediaType,
    ...(await jsonBlob(dir, doc)),
    platform: { os: 'linux', architecture: arch },
  };
}

/** Builds (once, cached in bench/.data) a layout of `layers` incompressible layers of `layerSize`. */
async function layout(
  name: string,
  layers: number,
  layerSize: number,
  platforms = 1,
): Promise<string> {
  const dir = join(DATA, name);
  if (existsSync(join(dir, 'index.json'))) return dir;
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  let top;
  if (platforms > 1) {
    const children = [];
    for (const arch of ['amd64', 'arm64', 'ppc64le', 's390x'].slice(0, platforms))
      children.push(await manifest(dir, name, layers, layerSize, arch));
    const index = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: children,
    };
    top = { mediaType: index.mediaType, ...(await jsonBlob(dir, index)) };
  } else {
    const m = await manifest(dir, name, layers, layerSize);
    top = { mediaType: m.mediaType, digest: m.digest, size: m.size };
  }
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [top] }));
  return dir;
}

// ---------- clients ----------

interface Sample {
  ms: number;
  ok: boolean;
  rssKb?: number;
  note?: string;
}

function timed(command: string, args: string[], measureRss = false): Promise<Sample> {
  const [cmd, argv] = measureRss ? ['/usr/bin/time', ['-v', command, ...args]] : [command, args];
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1];
      const ok = measureRss ? /Exit status: 0/.test(stderr) || code === 0 : code === 0;
      const note = ok
        ? undefined
        : (
            stderr.match(/(413[^\n]*|Request Entity Too Large[^\n]*|error[^\n]*)/i)?.[0] ??
            stderr.trim().split('\n').pop()
          )?.slice(0, 160);
      resolve({ ms, ok, rssKb: rss ? Number(rss) : undefined, note });
    });
  });
}

type Client = (host: string, dir: string, repo: string) => Promise<Sample>;

const ociPush =
  (extra: string[] = [], rss = false): Client =>
  (host, dir, repo) =>
    timed(
      process.execPath,
      [CLI, '--layout', dir, '--tags', `${host}/${repo}:1`, '--summary', 'false', ...extra],
      rss,
    );

const skopeo: Client = (host, dir, repo) =>
  timed('skopeo', [
    'copy',
    '--all',
    '--quiet',
    '--dest-tls-verify=false',
    `oci:${dir}`,
    `docker://${host}/${repo}:1`,
  ]);

/** The floor: for each blob a POST and one streamed PUT, all blobs at once; no manifest, no checks. */
const curlFloor =
  (parallel = 4): Client =>
  async (host, dir, repo) => {
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    const m = JSON.parse(
      await readFile(join(dir, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'),
    );
    const blobs: string[] = [m.config.digest, ...m.layers.map((l: { digest: string }) => l.digest)];
    const script = [
      'set -e',
      `upload() { loc=$(curl -sf -X POST -o /dev/null -D - "http://${host}/v2/${repo}/blobs/uploads/" | tr -d '\\r' | sed -n 's/^[Ll]ocation: //p'); curl -sf -T "${dir}/blobs/sha256/\${1#sha256:}" -H 'Content-Type: application/octet-stream' -o /dev/null "$loc&digest=$1"; }`,
      `printf '%s\\n' ${blobs.join(' ')} | xargs -P ${parallel} -I{} sh -c "$(declare -f upload); upload {}"`,
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

async function measure(
  name: string,
  dir: string,
  clients: Record<string, Client>,
  options: {
    via?: (registry: RunningRegistry) => Promise<{ host: string; stop(): Promise<void> }>;
    prepare?: (host: string) => Promise<void>;
    runs?: number;
    /** Run the client once, untimed, before the timed run: a registry that has served this before. */
    warmup?: boolean;
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
      const registry = await startRegistry();
      const front = options.via ? await options.via(registry) : undefined;
      const host = front?.host ?? registry.host;
      try {
        await options.prepare?.(host);
        const repo = `bench/${client
          .toLowerCase()
          .replace(/[^a-z0-9]+/g, '-')
          .replace(/^-|-$/g, '')}`;
        if (options.warmup) await run(host, dir, repo);
        result.clients[client]!.push(await run(host, dir, repo));
      } finally {
        await front?.stop();
        await registry.stop();
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

const med = (r: CaseResult, c: string): number => median(r.clients[c]!.map((s) => s.ms));

async function main(): Promise<void> {
  ensurePrerequisites();
  if (!existsSync('/usr/bin/time'))
    execFileSync('apt-get', ['install', '-y', 'time'], { stdio: 'inherit' });
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'bundle.mjs')], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  await mkdir(DATA, { recursive: true });
  process.stderr.write('preparing layouts in bench/.data …\n');
  const l4x64 = await layout('4x64MiB', 4, 64 * MiB);
  const l1g = await layout('1x1GiB', 1, 1024 * MiB);
  const l40 = await layout('40x1MiB', 40, MiB);
  const lIndex = await layout('index-2x2x16MiB', 2, 16 * MiB, 2);

  const cases: CaseResult[] = [];
  const fresh = await measure('fresh push, 4 × 64 MiB', l4x64, {
    'oci-push': ociPush(),
    skopeo,
    curl: curlFloor(4),
  });
  cases.push(fresh);
  const big = await measure('fresh push, 1 × 1 GiB', l1g, {
    'oci-push': ociPush(),
    skopeo,
    curl: curlFloor(1),
  });
  cases.push(big);
  const many = await measure('fresh push, 40 × 1 MiB', l40, {
    'oci-push': ociPush(),
    skopeo,
    curl: curlFloor(4),
  });
  cases.push(many);
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
    { 'oci-push': ociPush(), skopeo },
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
      'oci-push monolithic': ociPush(['--upload-mode', 'monolithic'], true),
      'oci-push chunked (50 MiB)': ociPush(['--upload-mode', 'chunked'], true),
    },
    { runs: 1 },
  );

  const rssMb = (c: string): number =>
    Math.max(...rss.clients[c]!.map((s) => (s.rssKb ?? 0) / 1024));
  const targets = [
    [
      'fresh push 4 × 64 MiB ≤ 0.8 × skopeo',
      med(fresh, 'oci-push') / med(fresh, 'skopeo'),
      0.8,
      '×',
    ],
    [
      'fresh push 4 × 64 MiB ≤ 1.1 × curl floor',
      med(fresh, 'oci-push') / med(fresh, 'curl'),
      1.1,
      '×',
    ],
    ['re-push of 40 present layers ≤ 0.3 s', med(repush, 'oci-push') / 1000, 0.3, 's'],
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
    `- In each of ${RUNS} rounds the clients run in turn, in alternating order; the table gives the median wall time of the whole process.`,
    '- Layers are incompressible (AES-CTR keystream), written once into `bench/.data/`.',
    '- `oci-push`: `node dist/cli.js --layout DIR --tags HOST/REPO:1` (defaults: auto upload mode, concurrency 4). `skopeo`: `skopeo copy --all oci:DIR docker://HOST/REPO:1`.',
    '- `curl`: the floor: for each blob one POST and one streamed `curl -T` PUT, 4 blobs at once (1 for the single-layer case); no manifest, no existence checks, no verification.',
    '- Peak RSS: `/usr/bin/time -v`, maximum resident set size, one run each.',
    '- Absolute times do not carry from one machine to another; compare ratios measured in the same run.',
    '',
  );
  lines.push('## Results (median wall time)', '');
  const clients = [...new Set(cases.flatMap((c) => Object.keys(c.clients)))];
  lines.push(
    `| case | ${clients.join(' | ')} |`,
    `| --- | ${clients.map(() => '---').join(' | ')} |`,
  );
  for (const c of cases)
    lines.push(
      `| ${c.name} | ${clients.map((k) => (c.clients[k] ? fmt(c.clients[k]!) : '—')).join(' | ')} |`,
    );
  lines.push(
    '',
    `Peak RSS with a 1 GiB layer: monolithic ${rssMb('oci-push monolithic').toFixed(0)} MB, chunked (50 MiB chunks) ${rssMb('oci-push chunked (50 MiB)').toFixed(0)} MB.`,
    '',
  );
  lines.push('## Targets', '', '| target | measured | met |', '| --- | --- | --- |');
  for (const [what, value, limit, unit] of targets) {
    const shown = Number.isFinite(value)
      ? `${value.toFixed(2)}${unit === '×' ? '×' : ` ${unit}`}`
      : 'failed';
    const margin = Number.isFinite(value)
      ? ` (${value <= limit ? `${((1 - value / limit) * 100).toFixed(0)}% under` : `${((value / limit - 1) * 100).toFixed(0)}% over`} the limit)`
      : '';
    lines.push(`| ${what} | ${shown}${margin} | ${value <= limit ? 'yes' : 'no'} |`);
  }
  lines.push(
    '',
    'Reproduce: `npm ci && npm run bench` (as root on Debian, it installs the registry, skopeo, nginx and time if missing). `BENCH_RUNS=N` changes the number of rounds.',
    '',
  );
  await writeFile(join(ROOT, 'bench', 'results.md'), lines.join('\n'));
  process.stderr.write(`${lines.slice(lines.indexOf('## Targets')).join('\n')}\n`);
}

await main();
