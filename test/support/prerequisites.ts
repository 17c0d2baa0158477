import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { REQUIRED } from '../../scripts/test-packages.mjs';

export { REQUIRED };

export function missingPackages(required: Record<string, string> = REQUIRED): string[] {
  return [
    ...new Set(
      Object.entries(required)
        .filter(([bin]) => !existsSync(bin))
        .map(([, pkg]) => pkg),
    ),
  ];
}

/**
 * Installs what is missing when running as root (a fresh CI machine); otherwise fails with the exact
 * command to run. Tests never skip for a missing tool.
 */
export function ensurePrerequisites(required: Record<string, string> = REQUIRED): void {
  let missing = missingPackages(required);
  if (!missing.length) return;
  const isRoot = process.getuid?.() === 0;
  if (isRoot) {
    process.stderr.write(`test setup: installing ${missing.join(' ')} with apt-get\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    try {
      execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], {
        stdio: 'inherit',
        env,
      });
    } catch {
      // Reported below with the exact list.
    }
    missing = missingPackages(required);
  }
  if (missing.length) {
    throw new Error(
      `test setup: missing packages ${missing.join(', ')}. Install them with: sudo apt-get install -y ${missing.join(' ')}`,
    );
  }
}
