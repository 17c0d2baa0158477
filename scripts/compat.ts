// `npm run compat`: pushes a small multi-layer image through every registry profile and real
// distribution configuration, pulls each back with skopeo, and prints the table; then the same
// cases once more through a distant TLS link (HTTP/2 offered, 50 ms round trips). `-- --direct` or
// `-- --far` runs one of the two. Exit 1 if any case did not behave as it must.
import { rm } from 'node:fs/promises';
import { COMPAT_CASES, type CompatWorld, runCase, startWorld } from '../test/support/compat.js';
import { ensureHostName, farCertificates } from '../test/support/far-host.js';
import { ensurePrerequisites } from '../test/support/prerequisites.js';

const FAR_RTT_MS = 50;

/** Runs every case on one world and prints its table; returns how many did not behave. */
async function runAll(world: CompatWorld, title: string): Promise<number> {
  let failed = 0;
  console.log(`\n## ${title}\n`);
  console.log('| case | result | seconds | source |');
  console.log('| --- | --- | --- | --- |');
  for (const c of COMPAT_CASES) {
    const result = await runCase(world, c);
    if (!result.ok) failed++;
    const what = result.ok
      ? c.fails
        ? `fails as it must (${c.fails})`
        : 'pushed, pulled back intact, base mounted (or uploaded where refused), re-push uploads 0'
      : `FAILED: ${result.problem}`;
    console.log(`| ${c.name} | ${what} | ${result.seconds.toFixed(1)} | ${c.source} |`);
  }
  const leaked = world.storage.requests.filter((r) => r.authorization).length;
  console.log(
    `\nstorage host: ${world.storage.requests.length} requests, ${leaked} with credentials`,
  );
  if (world.far) {
    const served = world.far.links.map((l) => l.served);
    const sum = (k: 'h2' | 'h1'): number => served.reduce((n, s) => n + s[k], 0);
    console.log(
      `through the TLS links: ${sum('h2')} requests over HTTP/2, ${sum('h1')} over HTTP/1.1`,
    );
  }
  return failed + (leaked ? 1 : 0);
}

async function withWorld(start: () => Promise<CompatWorld>, title: string): Promise<number> {
  const world = await start();
  try {
    return await runAll(world, title);
  } finally {
    await world.stop();
  }
}

ensurePrerequisites();
const only = process.argv.includes('--direct')
  ? 'direct'
  : process.argv.includes('--far')
    ? 'far'
    : undefined;
let failed = 0;
if (only !== 'far')
  failed += await withWorld(() => startWorld(), 'Direct (plain http on loopback)');
if (only !== 'direct') {
  await ensureHostName();
  const certs = await farCertificates();
  try {
    failed += await withWorld(
      () => startWorld({ far: { cert: certs.cert, rttMs: FAR_RTT_MS } }),
      `Through a distant TLS link (${FAR_RTT_MS} ms round trips, HTTP/2 offered)`,
    );
  } finally {
    await rm(certs.dir, { recursive: true, force: true });
  }
}
process.exitCode = failed ? 1 : 0;
