// Builds dist/ from src/: minified ES modules, split so that code only some runs need (archives,
// engine export, diagnose, index mode) loads only when used. What goes in: scripts/bundle-config.mjs.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bundle, ROOT } from './bundle-config.mjs';

const dist = join(ROOT, 'dist');
await rm(dist, { recursive: true, force: true });
await bundle(dist);
const cli = join(dist, 'cli.js');
await writeFile(cli, `#!/usr/bin/env node\n${await readFile(cli, 'utf8')}`, { mode: 0o755 });
