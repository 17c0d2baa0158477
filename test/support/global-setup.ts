import { execFileSync } from 'node:child_process';
import { ensurePrerequisites } from './prerequisites.js';
import { ROOT } from './run.js';

export default function setup(): void {
  ensurePrerequisites();
  // The CLI and action tests run the bundle users run; build it from the current src first.
  execFileSync(process.execPath, ['scripts/bundle.mjs'], { cwd: ROOT, stdio: 'inherit' });
}
