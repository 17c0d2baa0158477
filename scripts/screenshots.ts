// `npm run screenshots`: pushes the main cases through the action as the runner runs it (dist/,
// rebuilt first), against a real registry behind the project's fault proxy, renders each job
// summary with a GitHub-flavoured renderer, and screenshots it in headless Chromium into
// docs/screenshots/. It also prints what each page weighs, the numbers issue #20 asks about.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SCREENSHOTS } from './test-packages.mjs';
import { runAction } from '../test/support/actions-runner.js';
import { type FaultConfig, startFaultProxy } from '../test/support/fault-proxy.js';
import { renderGfm } from '../test/support/gfm.js';
import { type LayoutSpec, makeLayout } from '../test/support/layouts.js';
import { ensurePrerequisites } from '../test/support/prerequisites.js';
import { startRegistry } from '../test/support/registry.js';

const ROOT = resolve(import.meta.dirname, '..');
const OUT = join(ROOT, 'docs', 'screenshots');
const MiB = 1 << 20;

interface Case {
  name: string;
  title: string;
  layout: LayoutSpec;
  proxy: (layers: string[]) => FaultConfig;
  inputs?: Record<string, string>;
  /** The window's height: about the page's own, so the picture has no blank half. */
  height: number;
}

const CASES: Case[] = [
  {
    name: 'clean-push',
    height: 720,
    title: 'A clean push',
    layout: { seed: 'shot-clean', layers: 3, layerSize: 512 * 1024 },
    proxy: () => ({}),
  },
  {
    name: 'two-platform-index',
    height: 820,
    title: 'A two-platform index',
    layout: {
      seed: 'shot-index',
      layers: 2,
      layerSize: 256 * 1024,
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ],
    },
    proxy: () => ({}),
  },
  {
    name: 'body-limit-monolithic',
    height: 1100,
    title: 'A 1 MiB body cap (nginx) with upload-mode: monolithic',
    layout: { seed: 'shot-413', layers: 2, layerSize: 1536 * 1024 },
    proxy: () => ({ bodyCap: { bytes: MiB, style: 'nginx' } }),
    inputs: { 'upload-mode': 'monolithic', retries: '0' },
  },
  {
    name: 'recovered-lost-blob',
    height: 600,
    title: 'A blob the registry lost after acknowledging it, uploaded again',
    layout: { seed: 'shot-lost', layers: 2, layerSize: 512 * 1024 },
    proxy: (blobs) => ({ lostOnce: [blobs[1]!] }),
  },
  {
    name: 'hundred-failures',
    height: 1100,
    title: '100 layers, every body refused',
    layout: { seed: 'shot-100', layers: 100, layerSize: 4096 },
    proxy: () => ({ bodyCap: { bytes: 1, style: 'nginx' } }),
    inputs: { 'upload-mode': 'monolithic', retries: '0' },
  },
];

/** GitHub's summary column, near enough: its font, width and table and code styles. */
const CSS = `
body { font: 14px/1.5 -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; color: #1f2328; margin: 0; padding: 24px 32px; max-width: 880px; }
h2 { font-size: 1.5em; border-bottom: 1px solid #d1d9e0; padding-bottom: .3em; }
h3 { font-size: 1.25em; margin-top: 24px; } h4 { font-size: 1em; }
code { font: 85% ui-monospace, "DejaVu Sans Mono", monospace; background: #eff1f3; padding: .2em .4em; border-radius: 6px; }
table { border-collapse: collapse; margin: 8px 0; } th, td { border: 1px solid #d1d9e0; padding: 4px 10px; }
tr:nth-child(2n) { background: #f6f8fa; } blockquote { border-left: .25em solid #0969da; margin: 0; padding: 0 1em; color: #59636e; }
details { margin: 8px 0; } summary { cursor: pointer; }
.caption { color: #59636e; font-size: 12px; margin-bottom: 12px; }
`;

ensurePrerequisites();
ensurePrerequisites(SCREENSHOTS);
execFileSync(process.execPath, [join(ROOT, 'scripts', 'bundle.mjs')], { stdio: 'inherit' });
const work = await mkdtemp(join(tmpdir(), 'oci-push-shots-'));
const registry = await startRegistry();
try {
  for (const c of CASES) {
    const layout = join(work, c.name);
    const image = await makeLayout(layout, c.layout);
    const proxy = await startFaultProxy(registry, c.proxy(image.blobs));
    try {
      const run = await runAction(work, {
        layout,
        tags: `${proxy.host}/demo/${c.name}:1.0`,
        diagnose: 'never',
        ...c.inputs,
      });
      const summary = run.summary
        .replaceAll(proxy.host, 'registry.example.com')
        .replaceAll(layout, './layout');
      const page = renderGfm(summary);
      const html = `<!doctype html><meta charset="utf-8"><style>${CSS}</style><div class="caption">${c.title} — job summary as oci-push writes it</div>${page.html}`;
      const htmlFile = join(work, `${c.name}.html`);
      await writeFile(htmlFile, html);
      await writeFile(join(OUT, `${c.name}.md`), summary);
      const png = join(OUT, `${c.name}.png`);
      execFileSync(
        'chromium',
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--hide-scrollbars',
          `--screenshot=${png}`,
          `--window-size=944,${c.height}`,
          `file://${htmlFile}`,
        ],
        { stdio: 'ignore' },
      );
      const lines = run.stdout.split('\n');
      const annotations = lines.filter((l) => /^::(error|warning)/.test(l));
      const fullDigests = summary.match(/sha256:[a-f0-9]{64}/g)?.length ?? 0;
      const fix = summary.indexOf('**Fix:**');
      console.log(
        `${c.name}: exit ${run.code}, summary ${(Buffer.byteLength(summary) / 1024).toFixed(1)} KB, ${fullDigests} full digests, first fix at byte ${fix}, ${annotations.length} annotations (longest ${Math.max(0, ...annotations.map((a) => a.length))} chars)`,
      );
    } finally {
      await proxy.stop();
    }
  }
} finally {
  await registry.stop();
  await rm(work, { recursive: true, force: true });
}
