import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeMarkdown } from '../../src/report/markdown.js';
import { runAction } from '../support/actions-runner.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { makeLayout } from '../support/layouts.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli } from '../support/run.js';

// A registry that echoes the password back, in an error message and a header: it must appear in
// no form anywhere oci-push writes.
const USER = 'echo-user';
const PASSWORD = 'ghp_Secret_Token\t1234*[x]';
let work: string;
let layout: string;
let registry: RunningRegistry;
let proxy: FaultProxy;

/** Every way the password could be shown, and its two halves around the tab. */
function forms(): string[] {
  const line = PASSWORD.replace('\t', ' ');
  return [
    PASSWORD,
    line,
    JSON.stringify(PASSWORD).slice(1, -1),
    escapeMarkdown(PASSWORD),
    escapeMarkdown(line),
    encodeURIComponent(PASSWORD),
    Buffer.from(`${USER}:${PASSWORD}`).toString('base64'),
    'ghp_Secret_Token',
    'ghp\\_Secret\\_Token',
  ];
}

function expectNoSecret(text: string, where: string): void {
  for (const form of forms()) expect(text.includes(form), `${where} shows ${form}`).toBe(false);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-push-secrets-'));
  layout = join(work, 'layout');
  await makeLayout(layout, { seed: 'secrets', layers: 1, layerSize: 2048 });
  registry = await startRegistry({ htpasswd: { [USER]: PASSWORD } });
  proxy = await startFaultProxy(registry, {
    failWhen: [
      {
        method: 'POST',
        path: /\/blobs\/uploads\//,
        status: 400,
        message: `your password ${PASSWORD} is not allowed; json ${JSON.stringify(PASSWORD)}`,
        headers: { server: `echo ${encodeURIComponent(PASSWORD)}` },
      },
    ],
  });
});
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('an echoed password in every form', () => {
  it('the action: log, annotations, summary and outputs show none of them; the runner masks each', async () => {
    const run = await runAction(
      work,
      {
        layout,
        tags: `${proxy.host}/secret/a:1`,
        username: USER,
        password: PASSWORD,
        retries: '0',
      },
      { RUNNER_DEBUG: '1' },
    );
    expect(run.code).toBe(1);
    const masks = run.stdout
      .split('\n')
      .filter((l) => l.startsWith('::add-mask::'))
      .map((l) => l.slice('::add-mask::'.length));
    // The runner is told every form (its masker sees the log with workflow-command escaping).
    expect(masks.length).toBeGreaterThanOrEqual(4);
    const shown = run.stdout
      .split('\n')
      .filter((l) => !l.startsWith('::add-mask::'))
      .join('\n');
    expectNoSecret(shown, 'the log');
    expectNoSecret(run.summary, 'the summary');
    expectNoSecret(JSON.stringify(run.outputs), 'the outputs');
    expect(run.summary).toContain('***');
  });

  it('the CLI: stderr, --verbose, --summary-file and --json show none of them', async () => {
    const summaryFile = join(work, 'summary.md');
    const res = await runCli(
      [
        '--layout',
        layout,
        '--tags',
        `${proxy.host}/secret/b:1`,
        '--username',
        USER,
        '--password-stdin',
        '--retries',
        '0',
        '--verbose',
        '--json',
        '--summary-file',
        summaryFile,
      ],
      { input: PASSWORD, env: { PATH: process.env.PATH, HOME: work } },
    );
    expect(res.code).toBe(1);
    expectNoSecret(res.stderr, 'stderr');
    expectNoSecret(res.stdout, 'the JSON');
    expectNoSecret(await readFile(summaryFile, 'utf8'), 'the summary file');
  });

  it('--json usage errors: a credential in a tag is not printed', async () => {
    const token = 'ghp_Secret_Token1234';
    const res = await runCli(
      [
        '--layout',
        layout,
        '--tags',
        `u:${token}@127.0.0.1:5000/x:v1`,
        '--password',
        token,
        '--json',
      ],
      { env: { PATH: process.env.PATH, HOME: work } },
    );
    expect(res.code).toBe(2);
    expect(res.stdout).toContain('"usage": true');
    expect(res.stdout + res.stderr).not.toContain(token);
    // Without --password the tag's own userinfo is still hidden.
    const bare = await runCli(
      ['--layout', layout, '--tags', `u:${token}@127.0.0.1:5000/x:v1`, '--json'],
      {
        env: { PATH: process.env.PATH, HOME: work },
      },
    );
    expect(bare.code).toBe(2);
    expect(bare.stdout + bare.stderr).not.toContain(token);
  });
});
