import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CauseId, causeOf } from '../../src/report/causes.js';
import { runAction } from '../support/actions-runner.js';
import { type ForwardProxy, startForwardProxy } from '../support/connect-proxy.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { makeLayout } from '../support/layouts.js';
import { freePort } from '../support/ports.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { type RunResult, runCli } from '../support/run.js';

// Each failure that is not the blobs' fault has its own cause, and the same one reaches every place
// a person reads it: the summary, the annotation, the CLI's stderr and `oci-push diagnose`.
let work: string;
let layout: string;
let open: RunningRegistry;
let locked: RunningRegistry;
let capped: FaultProxy;
let forward: ForwardProxy;
let closedPort: number;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-push-causes-'));
  layout = join(work, 'layout');
  await makeLayout(layout, { seed: 'causes', layers: 1, layerSize: 200 * 1024 });
  open = await startRegistry();
  locked = await startRegistry({ htpasswd: { u: 'right-password' } });
  // A body cap below the 64 KiB floor: no chunk can get through.
  capped = await startFaultProxy(open, { bodyCap: { bytes: 32 * 1024, style: 'nginx' } });
  // A name no DNS knows, routed by the HTTPS proxy to the plain-http registry: https meets http.
  forward = await startForwardProxy({ 'registry.oci-push.test:443': open.host });
  closedPort = await freePort();
});
afterAll(async () => {
  await Promise.all([open?.stop(), locked?.stop(), capped?.stop(), forward?.stop()]);
  await rm(work, { recursive: true, force: true });
});

interface Scenario {
  name: string;
  cause: CauseId;
  tag: () => string;
  inputs?: Record<string, string>;
  env?: () => NodeJS.ProcessEnv;
}

const scenarios: Scenario[] = [
  {
    name: 'a refused connection',
    cause: 'connection-refused',
    tag: () => `127.0.0.1:${closedPort}/causes/app:1`,
  },
  {
    name: 'a name that does not resolve',
    cause: 'dns-failure',
    tag: () => 'nothing.invalid/app:1',
  },
  {
    name: 'a registry that speaks http, reached over https',
    cause: 'http-over-https',
    tag: () => 'registry.oci-push.test/causes/app:1',
    env: () => ({ HTTPS_PROXY: forward.url }),
  },
  {
    name: 'a wrong password',
    cause: 'credentials',
    tag: () => `${locked.host}/causes/app:1`,
    inputs: { username: 'u', password: 'wrong-password' },
  },
  {
    name: 'a body cap below the smallest chunk',
    cause: 'body-limit-at-floor',
    tag: () => `${capped.host}/causes/app:1`,
  },
];

const env = (s: Scenario): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: work,
  ...(s.env?.() ?? {}),
});

/** No failure here is one that chunks could help with: nothing may advise them. */
function expectNoChunkAdvice(text: string): void {
  expect(text).not.toMatch(/upload-mode: (chunked|auto)/);
  expect(text).not.toMatch(/--upload-mode/);
}

function expectCause(text: string, id: CauseId): void {
  expect(text).toContain(causeOf(id).title);
  expect(text).toContain(causeOf(id).fix);
}

describe.each(scenarios)('$name', (scenario) => {
  it('the action: summary, annotation and exit code, within 15 s', async () => {
    const started = Date.now();
    const run = await runAction(
      work,
      { layout, tags: scenario.tag(), ...(scenario.inputs ?? {}) },
      env(scenario),
    );
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(run.code).toBe(1);
    const title = causeOf(scenario.cause).title;
    const annotation = run.stdout
      .split('\n')
      .find((l) => l.startsWith(`::error title=oci-push%3A ${scenario.cause}::`));
    expect(annotation, run.stdout).toBeDefined();
    if (scenario.cause === 'body-limit-at-floor') {
      expect(run.summary).toContain('even for chunks of 64.0 KiB');
      expect(annotation).toMatch(/1 blob \(sha256:[0-9a-f]{12}\).*even for chunks of 64\.0 KiB/);
    } else {
      expectCause(run.summary, scenario.cause);
      expect(annotation).toContain(title);
    }
    expect(run.summary).toContain(causeOf(scenario.cause).fix);
    expectNoChunkAdvice(run.summary);
    expectNoChunkAdvice(run.stdout);
    // The runner consumes ::add-mask:: lines; the secret must appear nowhere else.
    expect(run.stdout.replace(/^::add-mask::.*$/gm, '')).not.toContain('wrong-password');
  });

  it('the CLI: the cause and its fix on stderr', async () => {
    const args = ['--layout', layout, '--tags', scenario.tag(), '--diagnose', 'never'];
    if (scenario.inputs?.username)
      args.push('--username', scenario.inputs.username, '--password-stdin');
    const res: RunResult = await runCli(args, {
      env: env(scenario),
      input: scenario.inputs?.password,
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`fix: ${causeOf(scenario.cause, {}, 'cli').fix}`);
    expect(res.stderr).toMatch(/probable cause( \(1 blob\))?: /);
    expectNoChunkAdvice(res.stderr);
  });

  it('diagnose: the same cause, from the phase it probed', async () => {
    const args = ['diagnose', scenario.tag().replace(/:1$/, ''), '--json'];
    if (scenario.inputs?.username)
      args.push('--username', scenario.inputs.username, '--password-stdin');
    const res = await runCli(args, { env: env(scenario), input: scenario.inputs?.password });
    expect(res.code).toBe(1);
    const report = JSON.parse(res.stdout) as {
      findings: { phase: string; ok: boolean | null; cause?: { id: CauseId; fix: string } }[];
    };
    const failed = report.findings.filter((f) => f.ok === false);
    expect(failed.length).toBeGreaterThan(0);
    for (const f of failed) expect(f.cause?.id).toBe(scenario.cause);
    const phase =
      scenario.cause === 'credentials'
        ? 'auth'
        : scenario.cause === 'body-limit-at-floor'
          ? 'blobs'
          : 'connect';
    expect(failed[0]!.phase).toBe(phase);
    expect(res.stderr).toContain(`fix: ${causeOf(scenario.cause, {}, 'cli').fix}`);
    expectNoChunkAdvice(res.stderr);
  });
});
