// `npm run demo`: starts a local registry, makes a small two-platform image layout, pushes it with the
// engine, and prints the summary and the pushed digest. Needs Debian's docker-registry (installed by
// `npm test` when run as root, or: apt-get install docker-registry).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPushSettings } from '../src/config/settings.js';
import { executePush } from '../src/push/execute.js';
import { createConsoleLogger } from '../src/cli/console-logger.js';
import { renderSummary } from '../src/report/summary.js';
import { makeLayout } from '../test/support/layouts.js';
import { ensurePrerequisites } from '../test/support/prerequisites.js';
import { startRegistry } from '../test/support/registry.js';

ensurePrerequisites();
const work = await mkdtemp(join(tmpdir(), 'oci-push-demo-'));
const registry = await startRegistry();
try {
  const layout = join(work, 'layout');
  await makeLayout(layout, {
    seed: 'demo',
    layers: 3,
    layerSize: 256 * 1024,
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ],
  });
  const tags = `${registry.host}/demo/hello:1.0,${registry.host}/demo/hello:latest`;
  console.log(`Registry: ${registry.url} (storage ${registry.storage})`);
  console.log(`Layout:   ${layout}\n`);
  const settings = await readPushSettings(
    (name) => ({ layout, tags })[name as 'layout' | 'tags'] ?? '',
  );
  const result = await executePush(settings, { logger: createConsoleLogger({ verbose: false }) });
  console.log(`\n${renderSummary(result)}`);
  console.log(
    result.ok ? `Pushed digest: ${result.digest}` : `Push failed: ${result.error?.message}`,
  );
  process.exitCode = result.ok ? 0 : 1;
} finally {
  await registry.stop();
  await rm(work, { recursive: true, force: true });
}
