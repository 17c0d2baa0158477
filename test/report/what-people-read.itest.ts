import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ActionRun, runAction } from '../support/actions-runner.js';
import { type FaultConfig, type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { renderGfm } from '../support/gfm.js';
import { type BuiltImage, makeLayout } from '../support/layouts.js';
import { freePort } from '../support/ports.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli, skopeoPull } from '../support/run.js';

// What a person reads when something went wrong, or almost did: one screen that names the cause
// and the fix, however many blobs failed; recoveries said; texts that are exact.
const MiB = 1 << 20;
let registry: RunningRegistry;
let work: string;
let many: string;
let small: string;
let smallImage: BuiltImage;
let big: string;
const proxies: FaultProxy[] = [];
let n = 0;

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'oci-push-read-'));
  many = join(work, 'many');
  await makeLayout(many, { seed: 'read-many', layers: 100, layerSize: 4096 });
  small = join(work, 'small');
  smallImage = await makeLayout(small, { seed: 'read-small', layers: 2, layerSize: 256 * 1024 });
  big = join(work, 'big');
  await makeLayout(big, { seed: 'read-big', layers: 1, layerSize: 2 * MiB });
});
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

async function proxy(config: FaultConfig): Promise<FaultProxy> {
  const p = await startFaultProxy(registry, config);
  proxies.push(p);
  return p;
}

const annotations = (run: { stdout: string }): string[] =>
  run.stdout.split('\n').filter((l) => /^::(error|warning)/.test(l));
const fullDigests = (text: string): number => text.match(/sha256:[a-f0-9]{64}/g)?.length ?? 0;

/** The first screen: where the first fix sits in the page, in bytes. */
function firstFixAt(summary: string): number {
  const at = summary.indexOf('**Fix:**');
  return at < 0 ? Infinity : Buffer.byteLength(summary.slice(0, at));
}

describe('100 failed blobs', () => {
  it('the action: one screen with the cause and fix, a bounded page, at most 10 short annotations', async () => {
    const p = await proxy({ bodyCap: { bytes: 1, style: 'nginx' } });
    const run = await runAction(work, {
      layout: many,
      tags: `${p.host}/read/many${++n}:1`,
      'upload-mode': 'monolithic',
      retries: '0',
      diagnose: 'never',
    });
    expect(run.code).toBe(1);
    expect(JSON.parse(run.outputs['failed-blobs']!)).toHaveLength(101);
    expect(Buffer.byteLength(run.summary)).toBeLessThanOrEqual(40_000);
    expect(fullDigests(run.summary)).toBeLessThanOrEqual(40);
    expect(firstFixAt(run.summary)).toBeLessThan(2_500);
    const notes = annotations(run);
    expect(notes.length).toBeGreaterThan(0);
    expect(notes.length).toBeLessThanOrEqual(10);
    for (const note of notes) expect(note.length).toBeLessThanOrEqual(1_500);
    // The digest a failed push would have had is said to be not pushed, and no output claims it.
    expect(run.summary).toMatch(/\*\*Digest:\*\* `sha256:[a-f0-9]{64}` — \*\*not pushed\*\*/);
    expect(run.outputs.digest).toBe('');
    // The blobs past the first few are one collapsed table of short digests.
    const page = renderGfm(run.summary);
    expect(page.html).toMatch(/<summary>\d+ more failed blobs/);
    expect(run.summary).not.toContain('<summary>Full digests');
  });

  it('the CLI: the same bounds in the summary file, a short stderr, fixes in flags', async () => {
    const p = await proxy({ bodyCap: { bytes: 1, style: 'nginx' } });
    const file = join(work, `cli-many-${++n}.md`);
    const res = await runCli([
      'push',
      many,
      `${p.host}/read/many${n}:1`,
      '--upload-mode',
      'monolithic',
      '--retries',
      '0',
      '--diagnose',
      'never',
      '--summary-file',
      file,
    ]);
    expect(res.code).toBe(1);
    const summary = await readFile(file, 'utf8');
    expect(Buffer.byteLength(summary)).toBeLessThanOrEqual(40_000);
    expect(fullDigests(summary)).toBeLessThanOrEqual(40);
    expect(firstFixAt(summary)).toBeLessThan(2_500);
    const last = res.stderr.split('\n').filter((l) => l.startsWith('oci-push:'));
    expect(last).toHaveLength(1);
    expect(last[0]!.length).toBeLessThan(400);
    expect(res.stderr).not.toMatch(/`upload-mode:|`chunk-size`/);
  });
});

describe('2 failed blobs', () => {
  it('a summary of at most 40 lines, the cause and its fix said once', async () => {
    const p = await proxy({ bodyCap: { bytes: 100_000, style: 'nginx' } });
    const run = await runAction(work, {
      layout: small,
      tags: `${p.host}/read/two${n}:1`,
      'upload-mode': 'monolithic',
      retries: '0',
      diagnose: 'never',
    });
    expect(run.code).toBe(1);
    expect(JSON.parse(run.outputs['failed-blobs']!)).toHaveLength(2);
    const lines = run.summary.trimEnd().split('\n');
    expect(lines.length, run.summary).toBeLessThanOrEqual(40);
    const title = run.summary.match(/^- \*\*[^*]+\*\*(?: `[^`]+`)? — (.+)$/m)?.[1];
    expect(title).toBeDefined();
    expect(run.summary.split('**Fix:**')).toHaveLength(2);
    expect(run.summary.split(title!).length - 1, title).toBe(1);
  });
});

describe('recoveries are reported', () => {
  it('a blob lost after its commit and uploaded again: pushed, said in the summary, one warning, counted', async () => {
    const layer = smallImage.blobs[1]!;
    const p = await proxy({ lostOnce: [layer] });
    const ref = `${p.host}/read/lost${++n}:1`;
    const run = await runAction(work, { layout: small, tags: ref, diagnose: 'never' });
    expect(run.code, run.stdout).toBe(0);
    expect(p.deleted).toEqual([layer]);
    expect(run.summary).toContain('### Recovered');
    expect(run.summary).toMatch(
      /acknowledged 1 blob \(201\) and then answered 404 to HEAD; oci-push uploaded it again/,
    );
    const warnings = annotations(run).filter((l) => l.startsWith('::warning'));
    expect(warnings, warnings.join('\n')).toHaveLength(1);
    expect(warnings[0]).toContain('recovered (reuploaded)');
    expect(JSON.parse(run.outputs.recoveries!)).toMatchObject({ reuploaded: 1, 'replica-lag': 0 });
    const pulled = await skopeoPull(`${registry.host}/read/lost${n}:1`, join(work, `pull-${n}`));
    expect(pulled.code, pulled.stderr).toBe(0);
  });

  it('the CLI says it too, and --json counts it', async () => {
    const p = await proxy({ lostOnce: [smallImage.blobs[2]!] });
    const res = await runCli(['push', small, `${p.host}/read/lost${++n}:1`, '--json']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/recovered: The registry acknowledged 1 blob/);
    expect(JSON.parse(res.stdout).recoveries).toMatchObject({ reuploaded: 1 });
  });

  it('bodies refused and sent in chunks: the size that worked and the settings that skip the refusal, in each shell', async () => {
    const p = await proxy({ bodyCap: { bytes: 1.5 * MiB, style: 'nginx' } });
    const run = await runAction(work, {
      layout: big,
      tags: `${p.host}/read/chunked${++n}:1`,
      'chunk-size': '1MiB',
      diagnose: 'never',
    });
    expect(run.code, run.stdout).toBe(0);
    expect(run.summary).toMatch(
      /refused 1 request body of up to 2\.0 MiB as too large; oci-push sent it in chunks of 1\.0 MiB/,
    );
    expect(run.summary).toContain('`upload-mode: chunked` and `chunk-size: 1MiB`');
    expect(JSON.parse(run.outputs.recoveries!)).toMatchObject({ chunked: 1 });
    const res = await runCli([
      'push',
      big,
      `${p.host}/read/chunked${++n}:1`,
      '--chunk-size',
      '1MiB',
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain('`--upload-mode chunked` and `--chunk-size 1MiB`');
  });
});

describe('exact texts', () => {
  it('a refused connection stops at connect, never at auth, with the URL as it was tried', async () => {
    const port = await freePort();
    const run: ActionRun = await runAction(work, {
      layout: small,
      tags: `127.0.0.1:${port}/read/none:1`,
      retries: '0',
      diagnose: 'never',
    });
    expect(run.code).toBe(1);
    expect(run.summary).toContain('**Stopped at:** connect');
    expect(run.summary).not.toMatch(/Stopped at:?\*?\*? auth/);
    expect(run.summary).toContain(`GET http://127.0.0.1:${port}/v2/`);
    const cli = await runCli(['push', small, `127.0.0.1:${port}/read/none:1`, '--retries', '0']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain(`http://127.0.0.1:${port}/v2/`);
    expect(cli.stderr).toContain('the target reference');
    expect(cli.stderr).not.toContain('`tags`');
  });

  it('a 2 MiB body refused by Cloudflare: the size named, and no plan limit it does not fit', async () => {
    const p = await proxy({ bodyCap: { bytes: MiB, style: 'cloudflare' } });
    const run = await runAction(work, {
      layout: big,
      tags: `${p.host}/read/cf${++n}:1`,
      'upload-mode': 'monolithic',
      retries: '0',
      diagnose: 'never',
    });
    expect(run.code).toBe(1);
    expect(run.summary).toContain(
      'Cloudflare refused a request body of 2.0 MiB as too large (413)',
    );
    expect(run.summary).toContain("below every Cloudflare plan's limit");
    expect(run.summary).not.toMatch(/100 MB \(Free and Pro\)/);
  });

  it("the CLI's fix through a 1 MB cap in monolithic mode names --upload-mode, not upload-mode:", async () => {
    const p = await proxy({ bodyCap: { bytes: 1_000_000, style: 'nginx' } });
    const res = await runCli([
      'push',
      big,
      `${p.host}/read/flags${++n}:1`,
      '--upload-mode',
      'monolithic',
      '--retries',
      '0',
      '--diagnose',
      'never',
    ]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('`--upload-mode auto`');
    expect(res.stderr).not.toContain('upload-mode:');
  });

  it('a near-miss flag gets a suggestion', async () => {
    const res = await runCli(['push', small, `${registry.host}/read/x:1`, '--tag', 'y']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('unknown flag --tag (did you mean --tags?)');
  });
});

describe('upload Locations on a host the runner cannot reach', () => {
  it('the same path on the registry itself answers: pushed there, with a warning naming the host', async () => {
    const port = await freePort();
    const p = await proxy({ uploadsVia: `http://127.0.0.2:${port}` });
    const run = await runAction(work, {
      layout: small,
      tags: `${p.host}/read/moved${++n}:1`,
      diagnose: 'never',
    });
    expect(run.code, run.stdout).toBe(0);
    expect(run.summary).toContain(`upload Locations named 127.0.0.2:${port}`);
    const warnings = annotations(run).filter((l) => l.startsWith('::warning'));
    expect(warnings.some((w) => w.includes(`127.0.0.2:${port}`))).toBe(true);
    const pulled = await skopeoPull(`${registry.host}/read/moved${n}:1`, join(work, `pull-${n}`));
    expect(pulled.code, pulled.stderr).toBe(0);
  });

  it('a path the registry does not serve: the push fails naming that host and the proxy fix', async () => {
    const port = await freePort();
    const p = await proxy({ uploadsVia: `http://127.0.0.2:${port}/internal` });
    const run = await runAction(work, {
      layout: small,
      tags: `${p.host}/read/gone${++n}:1`,
      diagnose: 'never',
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('title=oci-push%3A location-unreachable');
    expect(run.summary).toContain(`\`127.0.0.2:${port}\``);
    expect(run.summary).toMatch(/X-Forwarded-Proto/);
    expect(run.summary).not.toMatch(/Check the host and port in `tags`/);
  });
});
