// `npm run compat`: pushes a small multi-layer image through every registry profile and real
// distribution configuration, pulls each back with skopeo, and prints the table. Exit 1 if any case
// did not behave as it must.
import { COMPAT_CASES, runCase, startWorld } from '../test/support/compat.js';
import { ensurePrerequisites } from '../test/support/prerequisites.js';

ensurePrerequisites();
const world = await startWorld();
let failed = 0;
try {
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
  if (leaked) failed++;
} finally {
  await world.stop();
}
process.exitCode = failed ? 1 : 0;
