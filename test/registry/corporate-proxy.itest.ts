import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { causeOf } from '../../src/report/causes.js';
import { type ActionRun, runAction } from '../support/actions-runner.js';
import { makeSelfSigned } from '../support/certs.js';
import { makeLayout } from '../support/layouts.js';
import { type RunningRegistry, startRegistry } from '../support/registry.js';
import { runCli, skopeoPull } from '../support/run.js';
import { type RunningSquid, startSquid } from '../support/squid.js';

// A self-hosted runner inside a company: the registry has a certificate from a private CA, and
// every connection goes through a forward proxy (Debian's squid), with or without credentials.
const NAME = 'registry.corp.test';
const PROXY_USER = 'runner';
const PROXY_PASSWORD = 'pr0xy:p@ss/w0rd';
let work: string;
let layout: string;
let caFile: string;
let tlsRegistry: RunningRegistry;
let httpRegistry: RunningRegistry;
let open: RunningSquid;
let locked: RunningSquid;
let strict: RunningSquid;
let n = 0;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-push-corp-'));
  layout = join(work, 'layout');
  await makeLayout(layout, { seed: 'corp', layers: 2, layerSize: 1536 * 1024 });
  const cert = makeSelfSigned(work, 'corp-ca', [NAME]);
  caFile = cert.certFile;
  tlsRegistry = await startRegistry({ tls: cert });
  httpRegistry = await startRegistry();
  const hosts = { [NAME]: '127.0.0.1' };
  open = await startSquid({ hosts });
  locked = await startSquid({
    hosts,
    credentials: { user: PROXY_USER, password: PROXY_PASSWORD },
  });
  strict = await startSquid({ hosts, denyPorts: [tlsRegistry.port] });
}, 60_000);
afterAll(async () => {
  await Promise.all([open?.stop(), locked?.stop(), strict?.stop()]);
  await Promise.all([tlsRegistry?.stop(), httpRegistry?.stop()]);
  await rm(work, { recursive: true, force: true });
});

const tlsRef = (repo: string): string => `${NAME}:${tlsRegistry.port}/${repo}:1`;
const proxyEnv = (url: string): NodeJS.ProcessEnv => ({ HTTPS_PROXY: url, HTTP_PROXY: url });
const withCredentials = (squid: RunningSquid): string =>
  `http://${encodeURIComponent(PROXY_USER)}:${encodeURIComponent(PROXY_PASSWORD)}@127.0.0.1:${squid.port}`;

/** What a person sees: the log without the runner's own mask commands, and the summary. */
const visible = (run: ActionRun): string =>
  run.stdout.replace(/^::add-mask::.*$/gm, '') + run.summary;

async function pulledBack(repo: string, port: number): Promise<void> {
  const pulled = await skopeoPull(`127.0.0.1:${port}/${repo}:1`, join(work, `pull-${++n}`));
  expect(pulled.code, pulled.stderr).toBe(0);
}

describe('a TLS registry with a private CA, through a CONNECT proxy', () => {
  it('ca-file: the action pushes through the tunnel with the same trust', async () => {
    const run = await runAction(
      work,
      { layout, tags: tlsRef('corp/ca'), 'ca-file': caFile, diagnose: 'never' },
      proxyEnv(open.url),
    );
    expect(run.code, run.stdout).toBe(0);
    await pulledBack('corp/ca', tlsRegistry.port);
  });

  it('insecure: true pushes too, and the CLI does the same', async () => {
    const run = await runAction(
      work,
      { layout, tags: tlsRef('corp/insecure'), insecure: 'true', diagnose: 'never' },
      proxyEnv(open.url),
    );
    expect(run.code, run.stdout).toBe(0);
    const cli = await runCli(['push', layout, tlsRef('corp/cli'), '--ca-file', caFile], {
      env: { PATH: process.env.PATH, HOME: work, ...proxyEnv(open.url) },
    });
    expect(cli.code, cli.stderr).toBe(0);
    await pulledBack('corp/cli', tlsRegistry.port);
  });

  it('proxy credentials in the URL push, and the password appears nowhere', async () => {
    const run = await runAction(
      work,
      { layout, tags: tlsRef('corp/auth'), 'ca-file': caFile, diagnose: 'never' },
      proxyEnv(withCredentials(locked)),
    );
    expect(run.code, run.stdout).toBe(0);
    for (const form of [PROXY_PASSWORD, encodeURIComponent(PROXY_PASSWORD)])
      expect(visible(run)).not.toContain(form);
    // The runner is told to mask it, in its decoded and encoded forms.
    expect(run.stdout).toMatch(/^::add-mask::/m);
    await pulledBack('corp/auth', tlsRegistry.port);
  });

  it('a password written with an unencoded @ and : is masked in every form, action and CLI', async () => {
    const password = 'wr0ng:pa@ss';
    const url = `http://${PROXY_USER}:${password}@127.0.0.1:${locked.port}`;
    const forms = [
      password,
      encodeURIComponent(password),
      Buffer.from(`${PROXY_USER}:${password}`).toString('base64'),
    ];
    const run = await runAction(
      work,
      { layout, tags: tlsRef('corp/at-sign'), 'ca-file': caFile, diagnose: 'never' },
      proxyEnv(url),
    );
    expect(run.code).toBe(1);
    // The runner reads a command's data with %25, %0D and %0A decoded.
    const masks = [...run.stdout.matchAll(/^::add-mask::(.*)$/gm)].map((m) =>
      m[1]!.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%'),
    );
    for (const form of forms) {
      expect(visible(run)).not.toContain(form);
      expect(masks).toContain(form);
    }
    const cli = await runCli(
      ['push', layout, tlsRef('corp/at-sign-cli'), '--ca-file', caFile, '--verbose'],
      {
        env: { PATH: process.env.PATH, HOME: work, ...proxyEnv(url) },
      },
    );
    expect(cli.code).toBe(1);
    for (const form of forms) expect(cli.stdout + cli.stderr).not.toContain(form);
  });

  it('a 407 fails within 5 s naming the proxy, in the action and the CLI', async () => {
    const started = Date.now();
    const run = await runAction(
      work,
      { layout, tags: tlsRef('corp/407'), 'ca-file': caFile, diagnose: 'never' },
      proxyEnv(locked.url),
    );
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('title=oci-push%3A proxy-auth');
    expect(run.summary).toContain(
      `The proxy at \`http://127.0.0.1:${locked.port}\` asked for credentials`,
    );
    expect(run.summary).toContain(causeOf('proxy-auth').fix);
    expect(run.summary).not.toContain(causeOf('credentials').title);
    const cli = await runCli(['push', layout, tlsRef('corp/407cli'), '--ca-file', caFile], {
      env: { PATH: process.env.PATH, HOME: work, ...proxyEnv(locked.url) },
    });
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain(
      `the proxy at http://127.0.0.1:${locked.port} asked for credentials`,
    );
  });

  it("a CONNECT the proxy's rules refuse (403) is the proxy's cause, not the registry's", async () => {
    const run = await runAction(
      work,
      { layout, tags: tlsRef('corp/403'), 'ca-file': caFile, diagnose: 'never' },
      proxyEnv(strict.url),
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('title=oci-push%3A proxy-refused');
    expect(run.summary).toContain(`The proxy at \`http://127.0.0.1:${strict.port}\` refused`);
  });

  it('a proxy nobody listens at is named as such', async () => {
    const run = await runAction(
      work,
      { layout, tags: tlsRef('corp/none'), 'ca-file': caFile, retries: '0', diagnose: 'never' },
      proxyEnv('http://127.0.0.1:1'),
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('title=oci-push%3A proxy-unreachable');
  });

  it('NO_PROXY sends the registry direct: past the proxy that would refuse it', async () => {
    const run = await runAction(
      work,
      { layout, tags: tlsRef('corp/direct'), 'ca-file': caFile, retries: '0', diagnose: 'never' },
      { ...proxyEnv(strict.url), NO_PROXY: '.corp.test' },
    );
    // Dialled directly, the name does not resolve on this machine (only the proxy knows it).
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('title=oci-push%3A dns-failure');
    expect(run.stdout).not.toContain('proxy-refused');
  });
});

describe('an http registry through HTTP_PROXY', () => {
  it('absolute-URI requests to the proxy push it (insecure: true for a named http host)', async () => {
    const run = await runAction(
      work,
      {
        layout,
        tags: `${NAME}:${httpRegistry.port}/corp/http:1`,
        insecure: 'true',
        diagnose: 'never',
      },
      proxyEnv(withCredentials(locked)),
    );
    expect(run.code, run.stdout).toBe(0);
    expect(visible(run)).not.toContain(PROXY_PASSWORD);
    await pulledBack('corp/http', httpRegistry.port);
  });
});
