import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CauseId, causeOf } from '../../src/report/causes.js';
import { type FaultProxy, type ProxyLogEntry, startFaultProxy } from './fault-proxy.js';
import { type BuiltImage, makeDerivedLayout, makeLayout } from './layouts.js';
import { type FarLink, startFarLink } from './far-link.js';
import { type RunningNginx, startNginx } from './nginx.js';
import { basic, layoutContents, listTags } from './oci.js';
import { PROFILES, type ProfileName, makeProfile } from './profiles.js';
import { type RunningRegistry, startRegistry } from './registry.js';
import { type RoundRobin, startRoundRobin } from './round-robin.js';
import { runCli, skopeoPull } from './run.js';
import { type StorageHost, startStorageHost } from './storage-host.js';
import { type TokenRegistry, startTokenRegistry } from './token-registry.js';

const MiB = 1 << 20;
export const USER = 'compat';
export const PASSWORD = 'compat-password-1';

/** Every registry configuration and profile a compatibility run pushes to, started once. */
export interface CompatWorld {
  work: string;
  layout: string;
  image: BuiltImage;
  /** An image built FROM `image`: its layers and one of its own. */
  derivedLayout: string;
  derived: BuiltImage;
  plain: RunningRegistry;
  /** distribution with the `redirect` middleware and htpasswd, its storage host on 127.0.0.2. */
  redirected: RunningRegistry;
  storage: StorageHost;
  relative: RunningRegistry;
  readOnly: RunningRegistry;
  replicas: RunningRegistry[];
  balancer: RoundRobin;
  token: TokenRegistry;
  /** A token registry whose token service answers 400 to a mount source's scope, as Docker Hub. */
  hub: TokenRegistry;
  nginx: RunningNginx[];
  proxies: FaultProxy[];
  /** Set when every case is pushed through a distant TLS link (`startWorld({ far })`). */
  far?: FarWorld;
  stop(): Promise<void>;
}

/** The distant TLS link every case goes through: its certificate, round trip, and links opened. */
export interface FarWorld {
  cert: { certFile: string; keyFile: string };
  rttMs: number;
  links: FarLink[];
}

/** `host` behind the world's distant TLS link, or as it is without one. */
async function reach(world: { far?: FarWorld }, host: string): Promise<string> {
  if (!world.far) return host;
  const link = await startFarLink(host, world.far.cert, world.far.rttMs);
  world.far.links.push(link);
  return link.host;
}

/**
 * Every configuration started once. With `far`, every case is pushed through TLS and a delay link
 * of that round trip (test/support/far-link.ts), token realms included: a realm must be https when
 * the registry is.
 */
export async function startWorld(
  options: { far?: Omit<FarWorld, 'links'> } = {},
): Promise<CompatWorld> {
  const far: FarWorld | undefined = options.far && { ...options.far, links: [] };
  const realm =
    far && (async (r: string) => `https://${await reach({ far }, new URL(r).host)}/token`);
  const work = await mkdtemp(join(tmpdir(), 'oci-push-compat-'));
  const layout = join(work, 'layout');
  // Layers over GHCR's 4 MiB PATCH cap and R2's 5 MiB minimum chunk.
  const image = await makeLayout(layout, {
    seed: 'compat',
    layers: 3,
    layerSize: 5 * MiB + 100_000,
  });
  // An image built FROM that one, for the mounts from a base (`mount-from`).
  const derivedLayout = join(work, 'derived');
  const derived = await makeDerivedLayout(derivedLayout, layout, image, 'compat-derived');
  const storageDir = join(work, 'redirect-storage');
  await mkdir(storageDir, { recursive: true });
  const storage = await startStorageHost(storageDir);
  const shared = join(work, 'replica-storage');
  await mkdir(shared, { recursive: true });
  const [plain, redirected, relative, readOnly, replicaA, replicaB, token, hub] = await Promise.all(
    [
      startRegistry(),
      startRegistry({
        storage: storageDir,
        redirectTo: storage.url,
        htpasswd: { [USER]: PASSWORD },
      }),
      startRegistry({ relativeUrls: true }),
      startRegistry({ readOnly: true }),
      startRegistry({ storage: shared, secret: 'replica-a-secret' }),
      startRegistry({ storage: shared, secret: 'replica-b-secret' }),
      startTokenRegistry(work, { [USER]: PASSWORD }, { realm }),
      startTokenRegistry(work, { [USER]: PASSWORD }, { refuseMountScopes: true, realm }),
    ],
  );
  const balancer = await startRoundRobin([replicaA!.host, replicaB!.host], { splitUploads: true });
  const nginx = await Promise.all([
    startNginx(plain!, '1000000'),
    startNginx(plain!, '100000'),
    startNginx(plain!, '64k'),
  ]);
  const world: CompatWorld = {
    work,
    layout,
    image,
    derivedLayout,
    derived,
    plain: plain!,
    redirected: redirected!,
    storage,
    relative: relative!,
    readOnly: readOnly!,
    replicas: [replicaA!, replicaB!],
    balancer,
    token: token!,
    hub: hub!,
    nginx,
    proxies: [],
    far,
    stop: async () => {
      await Promise.all([
        ...(far?.links ?? []).map((l) => l.stop()),
        ...world.proxies.map((p) => p.stop()),
        ...nginx.map((n) => n.stop()),
        balancer.stop(),
        storage.stop(),
        plain!.stop(),
        redirected!.stop(),
        relative!.stop(),
        readOnly!.stop(),
        replicaA!.stop(),
        replicaB!.stop(),
        token!.stop(),
        hub!.stop(),
      ]);
      await rm(work, { recursive: true, force: true });
    },
  };
  return world;
}

export interface CompatCase {
  name: string;
  /** Where the documented behaviour comes from (docs/registries.md has the full table). */
  source: string;
  /** Sets up the path and returns the host to push to and the registry behind it. */
  target(world: CompatWorld): Promise<{
    host: string;
    upstream: RunningRegistry;
    auth?: boolean;
    log?: ProxyLogEntry[];
  }>;
  flags?: string[];
  /** A failure that must be named; otherwise the push must succeed. */
  fails?: CauseId;
  /** How the second repository gets its blobs: mounted (default), or uploaded after a refusal. */
  mount?: 'mounted' | 'uploaded';
  /** Evidence in the proxy log that the quirk this case is about really happened. */
  exercised?: (log: ProxyLogEntry[]) => boolean;
  /** What the summary must say the push got past. */
  says?: RegExp;
}

async function profileTarget(world: CompatWorld, name: ProfileName) {
  const profile = makeProfile(name);
  const upstream = profile.refusesMountScopes
    ? world.hub.registry
    : profile.redirects
      ? world.redirected
      : world.plain;
  const proxy = await startFaultProxy(upstream, { profile: name });
  world.proxies.push(proxy);
  return { host: proxy.host, upstream, auth: upstream !== world.plain, log: proxy.log };
}

type Log = ProxyLogEntry[];
const some = (log: Log, test: (e: ProxyLogEntry) => boolean): boolean => log.some(test);

/** Evidence in the proxy's log that a profile's quirk really met the client (auto, then chunked). */
const EXERCISED: Partial<Record<ProfileName, [(log: Log) => boolean, ((log: Log) => boolean)?]>> = {
  'docker-hub': [(l) => some(l, (e) => e.status === 429)],
  ghcr: [() => true, (l) => some(l, (e) => e.method === 'PATCH' && e.status === 416)],
  ecr: [
    (l) => some(l, (e) => e.method === 'POST' && /mount=/.test(e.path) && e.status === 202),
    (l) =>
      some(l, (e) => e.method === 'PATCH' && e.status === 201) &&
      some(l, (e) => e.method === 'PATCH' && e.status === 400),
  ],
  gar: [
    (l) =>
      some(l, (e) => e.path.startsWith('/artifacts-uploads/')) &&
      some(l, (e) => e.path.startsWith('/artifacts-downloads/')),
  ],
  gcr: [() => true, (l) => some(l, (e) => e.method === 'PATCH' && e.status === 204)],
  quay: [(l) => some(l, (e) => e.method === 'PUT' && /uploads\//.test(e.path) && e.status === 202)],
  harbor: [(l) => some(l, (e) => e.method === 'POST' && /from=/.test(e.path) && e.status === 401)],
  gitlab: [(l) => some(l, (e) => e.method === 'HEAD' && e.status === 307)],
  gitea: [() => true, (l) => some(l, (e) => e.method === 'PATCH' && !/_state/.test(e.path))],
  zot: [(l) => some(l, (e) => e.method === 'PUT' && /uploads\/[^?]+\?digest=/.test(e.path))],
  r2: [
    (l) => some(l, (e) => /_stateHash=/.test(e.path)),
    (l) => some(l, (e) => e.method === 'PATCH' && e.contentLength === 5 << 20),
  ],
  'artifactory-old': [
    (l) =>
      some(l, (e) => e.method === 'PUT' && e.status === 404) &&
      some(l, (e) => e.method === 'PATCH' && e.status === 202),
  ],
};

const PROFILE_SOURCES: Record<ProfileName, string> = {
  'docker-hub':
    'blob reads redirect (H5, H7); 429 with Retry-After and ratelimit-* (H6); mount scope refused (H4)',
  ghcr: 'PATCH over 4 MiB → 416 "too large" (S23, S24); blob reads redirect (G3)',
  ecr: 'PATCH → 201 (E2); Range stuck (E1); parts under 5 MiB refused (E3, E4); mount → 202 (E6)',
  gar: 'relative Location outside /v2/ (A2); 302 to a relative download path (A3); no PATCH (A1)',
  gcr: 'PATCH → 204 (A5)',
  acr: 'relative Location with _state (Z2); reads redirect to a host refusing Authorization (Z1, Z6); `bytes ` Content-Range refused (S25)',
  quay: 'stable Location (S15); POST Range bytes=0--1 and status Range off by one (S15); commit → 202 (S20)',
  harbor:
    'mount from another project → 401 "project not found" with Basic challenge (R2, S16); reads redirect (S16)',
  gitlab: 'HEAD and GET redirect (L4); out-of-order Content-Range → 416 (L2)',
  gitea:
    'stable relative Location (S17); status Range off by one, no Location (S17); `bytes ` prefix → 400 (S17)',
  zot: 'stable relative Location; POST Range 0-0 (S13)',
  r2: 'OCI-Chunk-Min-Length 5 MiB and Max-Length 100 MB; equal non-final chunks, else 416 RANGE_ERROR (S14); _stateHash Locations (S14)',
  'artifactory-old': 'PUT with a body on a fresh session → 404 BLOB_UNKNOWN (F1)',
};

/** What the summary says a profile's quirk cost, where the push got past it with the defaults. */
const SAYS: Partial<Record<ProfileName, RegExp>> = {
  // How many were refused depends on how many single bodies went out before the first refusal
  // taught the push to send the rest in chunks.
  'artifactory-old': /refused \d+ blobs? sent as a single body \(it takes uploads only in chunks\)/,
};

/** Profiles that refuse a mount (401, a refused scope) or answer it with 202: the blobs are uploaded. */
const MOUNT_REFUSED: ProfileName[] = ['docker-hub', 'harbor', 'ecr'];

/** Profiles that refuse the mount itself (not a 202): one warning per source. */
const REFUSES_MOUNTS: ProfileName[] = ['docker-hub', 'harbor'];

/** Profiles whose quirks show only in chunks: pushed again with `upload-mode: chunked`. */
const CHUNKED_TOO: ProfileName[] = [
  'ghcr',
  'ecr',
  'gcr',
  'acr',
  'quay',
  'gitlab',
  'gitea',
  'zot',
  'r2',
];

export const COMPAT_CASES: CompatCase[] = [
  ...PROFILES.map((name): CompatCase => ({
    name,
    source: PROFILE_SOURCES[name],
    target: (world) => profileTarget(world, name),
    mount: MOUNT_REFUSED.includes(name) ? 'uploaded' : 'mounted',
    exercised: EXERCISED[name]?.[0],
    says: SAYS[name],
  })),
  ...CHUNKED_TOO.map((name): CompatCase => ({
    name: `${name}, chunked`,
    mount: MOUNT_REFUSED.includes(name) ? 'uploaded' : 'mounted',
    exercised: EXERCISED[name]?.[1],
    source: PROFILE_SOURCES[name],
    target: (world) => profileTarget(world, name),
    flags: ['--upload-mode', 'chunked', ...(name === 'ghcr' ? [] : ['--chunk-size', '1MiB'])],
  })),
  {
    name: 'distribution: redirect middleware',
    source:
      'HEAD and GET 307 to the storage host (S6, S9, P7); storage refuses Authorization (E7, Z1)',
    target: async (world) => ({
      host: world.redirected.host,
      upstream: world.redirected,
      auth: true,
    }),
  },
  {
    name: 'distribution: http.relativeurls',
    source: 'relative Locations (S10)',
    target: async (world) => ({ host: world.relative.host, upstream: world.relative }),
  },
  {
    name: 'distribution: token auth',
    source: 'Bearer tokens with pull,push scope (S12)',
    target: async (world) => ({
      host: world.token.registry.host,
      upstream: world.token.registry,
      auth: true,
    }),
  },
  {
    name: 'nginx: client_max_body_size 1000000',
    source: 'a decimal "1 MB" body cap (P5)',
    target: async (world) => ({ host: world.nginx[0]!.host, upstream: world.plain }),
  },
  {
    name: 'nginx: client_max_body_size 100000',
    source: 'a 100 KB body cap',
    target: async (world) => ({ host: world.nginx[1]!.host, upstream: world.plain }),
  },
  {
    name: 'nginx: client_max_body_size 64k',
    source: 'the smallest cap oci-push promises to get through (its 64 KiB chunk floor)',
    target: async (world) => ({ host: world.nginx[2]!.host, upstream: world.plain }),
  },
  {
    name: 'distribution: maintenance read-only',
    source: '405 to every write (S10, S2)',
    target: async (world) => ({ host: world.readOnly.host, upstream: world.readOnly }),
    fails: 'read-only',
  },
  {
    name: 'distribution: replicas with different http.secret',
    source: 'upload state one replica cannot read (P3)',
    target: async (world) => ({ host: world.balancer.host, upstream: world.replicas[0]! }),
    fails: 'no-shared-secret',
  },
];

export interface CompatResult {
  name: string;
  ok: boolean;
  /** What was wrong, when the case did not behave as it must. */
  problem?: string;
  seconds: number;
  repushUploads?: number;
}

let counter = 0;

/** Pushes the image with the CLI, then checks it as skopeo sees it, and re-pushes it. */
export async function runCase(world: CompatWorld, c: CompatCase): Promise<CompatResult> {
  const target = await c.target(world);
  const { upstream, auth, log } = target;
  const host = await reach(world, target.host);
  const repo = `compat/c${++counter}`;
  const summaryFile = join(world.work, `summary-${counter}.md`);
  const creds = [
    ...(auth ? ['--username', USER, '--password-stdin'] : []),
    ...(world.far ? ['--ca-file', world.far.cert.certFile] : []),
  ];
  const args = [
    '--layout',
    world.layout,
    '--tags',
    `${host}/${repo}:1`,
    // A second repository mounts from the first: the mount path (201, 202, or a refusal).
    '--tags',
    `${host}/${repo}-m:1`,
    '--json',
    '--diagnose',
    'never',
    '--summary-file',
    summaryFile,
    ...creds,
    ...(c.flags ?? []),
  ];
  const env = { PATH: process.env.PATH, HOME: world.work };
  const started = Date.now();
  const res = await runCli(args, { env, input: auth ? PASSWORD : undefined });
  const seconds = (Date.now() - started) / 1000;
  const fail = (problem: string): CompatResult => ({ name: c.name, ok: false, problem, seconds });
  const authHeader = auth ? basic(USER, PASSWORD) : undefined;
  if (c.fails) {
    if (res.code !== 1) return fail(`exit ${res.code}, expected 1`);
    const summary = await readFile(summaryFile, 'utf8');
    if (!summary.includes(causeOf(c.fails).title))
      return fail(`summary lacks the ${c.fails} cause`);
    if ((await listTags(upstream.url, repo, authHeader)).length) return fail('a tag was set');
    return { name: c.name, ok: true, seconds };
  }
  if (res.code !== 0)
    return fail(`exit ${res.code}: ${res.stderr.split('\n').slice(-4).join(' ')}`);
  // The token registry's skopeo pull needs the token; the other authenticated one takes Basic.
  for (const name of [repo, `${repo}-m`]) {
    const dest = join(world.work, `pulled-${counter}-${name.endsWith('-m') ? 'm' : 'a'}`);
    const pulled = await skopeoPull(
      `${upstream.host}/${name}:1`,
      dest,
      auth ? `${USER}:${PASSWORD}` : undefined,
    );
    if (pulled.code !== 0) return fail(`skopeo ${name}: ${pulled.stderr.trim()}`);
    const contents = await layoutContents(dest);
    if (contents.top !== world.image.digest) return fail(`pulled ${contents.top} from ${name}`);
    for (const d of [...world.image.blobs, ...world.image.manifests])
      if (!contents.blobs.has(d)) return fail(`the image pulled from ${name} lacks ${d}`);
  }
  const summary = await readFile(summaryFile, 'utf8');
  const mounted = /\| mounted( from [^|]*)? \|/.test(summary);
  if (c.mount === 'uploaded' && mounted) return fail('a refused mount still shows as mounted');
  if (c.mount !== 'uploaded' && !mounted) return fail('the second repository mounted nothing');
  if (c.exercised && log && !c.exercised(log)) return fail('the profile quirk never happened');
  if (c.says && !c.says.test(summary)) {
    const said = summary.split('\n').filter((line) => /oci-push sent/.test(line));
    return fail(
      `the summary does not say ${c.says.source}; it says: ${said.join(' ') || 'nothing'}`,
    );
  }
  // An image built FROM the one just pushed, told where its base is: the base's layers are
  // mounted, or uploaded where the registry refuses mounts, and it pulls back intact either way.
  const derivedSummary = join(world.work, `summary-${counter}-d.md`);
  const derived = await runCli(
    [
      '--layout',
      world.derivedLayout,
      '--tags',
      `${host}/${repo}-d:1`,
      '--mount-from',
      `${repo}:1`,
      '--json',
      '--diagnose',
      'never',
      '--summary-file',
      derivedSummary,
      ...creds,
      ...(c.flags ?? []),
    ],
    { env, input: auth ? PASSWORD : undefined },
  );
  if (derived.code !== 0)
    return fail(
      `derived push exit ${derived.code}: ${derived.stderr.split('\n').slice(-4).join(' ')}`,
    );
  const fromBase = (await readFile(derivedSummary, 'utf8')).includes(`mounted from \`${repo}\``);
  // A refused source is said once, whatever the number of blobs; a 202 (ECR) is no refusal.
  const refusals = derived.stderr.match(/mounting from \S+ was refused/g)?.length ?? 0;
  const expected = REFUSES_MOUNTS.some((p) => c.name.startsWith(p)) ? 1 : 0;
  if (refusals !== expected)
    return fail(`${refusals} refused-mount warnings, expected ${expected}`);
  if (c.mount === 'uploaded' && fromBase)
    return fail('a refused base mount still shows as mounted');
  if (c.mount !== 'uploaded' && !fromBase)
    return fail('the derived image mounted nothing from its base');
  const pulledDerived = await skopeoPull(
    `${upstream.host}/${repo}-d:1`,
    join(world.work, `pulled-${counter}-d`),
    auth ? `${USER}:${PASSWORD}` : undefined,
  );
  if (pulledDerived.code !== 0) return fail(`skopeo ${repo}-d: ${pulledDerived.stderr.trim()}`);
  const derivedContents = await layoutContents(join(world.work, `pulled-${counter}-d`));
  if (derivedContents.top !== world.derived.digest)
    return fail('the derived image pulled back differs');
  const again = await runCli(
    [
      ...args.filter((a) => a !== summaryFile && a !== '--summary-file'),
      '--tags',
      `${host}/${repo}:2`,
    ],
    { env, input: auth ? PASSWORD : undefined },
  );
  if (again.code !== 0) return fail(`re-push exit ${again.code}`);
  const repushUploads = (JSON.parse(again.stdout) as { 'blobs-uploaded': number })[
    'blobs-uploaded'
  ];
  if (repushUploads !== 0) return fail(`re-push uploaded ${repushUploads} blobs`);
  return { name: c.name, ok: true, seconds, repushUploads };
}
