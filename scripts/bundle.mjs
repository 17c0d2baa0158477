// Builds dist/ from src/: minified ES modules, split so that code only some runs need (archives,
// engine export, diagnose, index mode) loads only when used. The banner gives CommonJS dependencies
// (undici) a `require` inside the ESM output.
import { build } from 'esbuild';
import { readFile, rm, writeFile } from 'node:fs/promises';

const dist = new URL('../dist/', import.meta.url);
const { version } = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
await rm(dist, { recursive: true, force: true });
await build({
  entryPoints: { index: 'src/index.ts', cli: 'src/cli.ts' },
  outdir: 'dist',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  minify: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  legalComments: 'none',
  define: { __OCI_PUSH_VERSION__: JSON.stringify(version) },
  logLevel: 'warning',
  banner: {
    js: "import { createRequire as __ociPushCreateRequire } from 'node:module'; const require = __ociPushCreateRequire(import.meta.url);",
  },
});
const cli = new URL('cli.js', dist);
await writeFile(cli, `#!/usr/bin/env node\n${await readFile(cli, 'utf8')}`, { mode: 0o755 });
