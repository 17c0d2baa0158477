import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOutputFile, prepareAction } from '../support/actions-runner.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { makeLayout } from '../support/layouts.js';
import { listTags } from '../support/oci.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { CLI, NODE, ROOT, run } from '../support/run.js';

// Real signals, as a person's Ctrl-C or the runner cancelling a job (SIGINT, then SIGTERM) send them.
let registry: RunningRegistry;
let slow: FaultProxy;
let work: string;
let archive: string;

beforeAll(async () => {
  registry = await startRegistry();
  // 2 MiB/s: a 24 MiB layer takes about 12 s, time enough to cancel it in the middle.
  slow = await startFaultProxy(registry, { slowBodies: 2 << 20 });
  work = await mkdtemp(join(tmpdir(), 'oci-push-cancel-'));
  const layout = join(work, 'layout');
  await makeLayout(layout, { seed: 'cancel', layers: 2, layerSize: 12 << 20 });
  archive = join(work, 'image.tar');
  expect((await run('tar', ['-cf', archive, '-C', layout, '.'])).code).toBe(0);
});
afterAll(async () => {
  await slow?.stop();
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Starts a process, sends `signal` once an upload body is in flight, and waits for it to end. */
async function cancelMidUpload(child: ChildProcess, signal: NodeJS.Signals): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const deadline = Date.now() + 20_000;
  while (!slow.log.some((e) => e.method === 'PUT' && e.status === 0) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 300));
  const sent = Date.now();
  child.kill(signal);
  const code = await exited;
  return { code, stdout, stderr, ms: Date.now() - sent };
}

describe('cancellation', () => {
  it('the CLI on SIGINT: stops the upload, says what was done, writes the summary, cleans up, exits 130', async () => {
    const temp = await mkdtemp(join(work, 'tmp-'));
    const summary = join(work, 'cli-summary.md');
    slow.log.length = 0;
    const child = spawn(
      NODE,
      [CLI, '--layout', archive, '--tags', `${slow.host}/cancel/cli:1`, '--summary-file', summary],
      { env: { PATH: process.env.PATH, HOME: work, RUNNER_TEMP: temp }, cwd: ROOT },
    );
    const done = await cancelMidUpload(child, 'SIGINT');
    expect(done.code).toBe(130);
    expect(done.ms).toBeLessThan(5_000);
    expect(done.stderr).toMatch(
      /oci-push: cancelled during blobs: \d+ blobs? uploaded, nothing tagged/,
    );
    expect(await readFile(summary, 'utf8')).toContain('The run was cancelled');
    expect(await readdir(temp)).toEqual([]);
    expect(await listTags(registry.url, 'cancel/cli')).toEqual([]);
  });

  it('the action on SIGTERM: outputs and summary written, temp files removed, exits 143', async () => {
    const temp = await mkdtemp(join(work, 'tmp-'));
    const { main, env, outputFile, summaryFile } = await prepareAction(
      work,
      { layout: archive, tags: `${slow.host}/cancel/action:1` },
      { RUNNER_TEMP: temp, HOME: work },
    );
    slow.log.length = 0;
    const child = spawn(NODE, [main], { env, cwd: ROOT });
    const done = await cancelMidUpload(child, 'SIGTERM');
    expect(done.code).toBe(143);
    expect(done.ms).toBeLessThan(5_000);
    expect(done.stdout).toMatch(
      /::error::cancelled during blobs: \d+ blobs? uploaded, nothing tagged/,
    );
    const outputs = parseOutputFile(await readFile(outputFile, 'utf8'));
    expect(outputs.digest).toBe('');
    expect(outputs.refs).toBe('[]');
    expect(await readFile(summaryFile, 'utf8')).toContain('The run was cancelled');
    expect(await readdir(temp)).toEqual([]);
    expect(await listTags(registry.url, 'cancel/action')).toEqual([]);
  });

  describe('SIGTERM during the diagnosis after a failure', () => {
    // The push's single bodies are refused, so it fails at once; the probe's chunks are never
    // answered, so the diagnosis after it is still running when the job is cancelled.
    let p: FaultProxy;
    let layout: string;
    beforeAll(async () => {
      p = await startFaultProxy(registry, {
        failWhen: [{ method: 'PUT', path: /\/blobs\/uploads\/.+/, status: 500 }],
        neverAnswer: { methods: ['PATCH'], path: /\/blobs\/uploads\// },
      });
      layout = join(work, 'small');
      await makeLayout(layout, { seed: 'cancel-diagnose', layers: 1, layerSize: 4096 });
    });
    afterAll(() => p?.stop());

    /** Sends SIGTERM once the probe's PATCH is in flight; the exit code and how long it took. */
    async function termDuringProbe(
      child: ChildProcess,
    ): Promise<{ code: number | null; ms: number; out: string }> {
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
      const from = p.log.length;
      const deadline = Date.now() + 20_000;
      while (!p.log.slice(from).some((e) => e.method === 'PATCH') && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      expect(out).toMatch(/Diagnose the registry/);
      const sent = Date.now();
      child.kill('SIGTERM');
      const code = await exited;
      return { code, ms: Date.now() - sent, out };
    }

    it("the action: the failed push's outputs and summary, exit 143 within 2 s", async () => {
      const { main, env, outputFile, summaryFile } = await prepareAction(
        work,
        { layout, tags: `${p.host}/cancel/diagnose:1`, retries: '0', 'upload-mode': 'monolithic' },
        { HOME: work },
      );
      const done = await termDuringProbe(spawn(NODE, [main], { env, cwd: ROOT }));
      expect(done.ms).toBeLessThan(2_000);
      expect(done.code).toBe(143);
      const outputs = parseOutputFile(await readFile(outputFile, 'utf8'));
      expect(JSON.parse(outputs['failed-blobs']!)).not.toEqual([]);
      expect(await readFile(summaryFile, 'utf8')).toMatch(/push failed/);
    });

    it('the CLI: the failure said and the summary file written, exit 143 within 2 s', async () => {
      const summary = join(work, 'diagnose-summary.md');
      const child = spawn(
        NODE,
        [
          CLI,
          'push',
          layout,
          `${p.host}/cancel/diagnose-cli:1`,
          '--retries',
          '0',
          '--upload-mode',
          'monolithic',
          '--summary-file',
          summary,
        ],
        { env: { PATH: process.env.PATH, HOME: work }, cwd: ROOT },
      );
      const done = await termDuringProbe(child);
      expect(done.ms).toBeLessThan(2_000);
      expect(done.code).toBe(143);
      expect(done.out).toMatch(/blob.* failed/);
      expect(await readFile(summary, 'utf8')).toMatch(/push failed/);
    });
  });
});
