import { writeFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { type ParsedArgs, USAGE, parseArgs } from '../config/cli-args.js';
import { checkWritableFolder } from '../config/writable-file.js';
import { Input, type InputName } from '../config/inputs.js';
import {
  type RegistryCredentials,
  readDiagnoseSettings,
  readPushSettings,
  registryHostOf,
} from '../config/settings.js';
import { type Finding, blocking } from '../diagnose/finding.js';
import { openEarly } from '../push/open-early.js';
import type { PushResult } from '../push/result.js';
import { causeOf, workaroundOf } from '../report/causes.js';
import { checkedOutputs } from '../report/output-format.js';
import { outputsOf } from '../report/outputs.js';
import { proxySecrets } from '../registry/proxy.js';
import { failureCauses, observedWarnings, recoveries } from '../report/failure-model.js';
import { renderSummary } from '../report/summary.js';
import { signalExitCode } from '../util/cancel.js';
import { UsageError, errorMessage } from '../util/errors.js';
import { oneLine } from '../util/text.js';
import { type ConsoleLogger, createConsoleLogger } from './console-logger.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stdin: () => Promise<string>;
  /** Whether stderr is a terminal: progress redraws in place there. */
  tty?: boolean;
  env?: NodeJS.ProcessEnv;
}

const processIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  stdin: () => text(process.stdin),
  tty: Boolean(process.stderr.isTTY),
  env: process.env,
};

declare const __OCI_PUSH_VERSION__: string | undefined;

/** The version the bundle was built as; `dev` when run from the sources. */
export const VERSION = typeof __OCI_PUSH_VERSION__ === 'string' ? __OCI_PUSH_VERSION__ : 'dev';

type Cancel = { signal: AbortSignal; received(): string | undefined };

/** What every part of one CLI run writes through: its streams, its logger, and its exits. */
interface CliRun {
  io: CliIo;
  logger: ConsoleLogger;
  cancel?: Cancel;
  /** Says `message` on one line and returns `code`. */
  fail(message: string, code: number): number;
  /** A usage error: exit 2, with a pointer to --help (and JSON when asked for). */
  usage(error: Error): number;
}

function cliRun(argv: string[], io: CliIo, cancel?: Cancel): CliRun {
  const env = io.env ?? {};
  const logger = createConsoleLogger({
    verbose: argv.includes('--verbose'),
    quiet: argv.includes('--quiet'),
    write: (line) => io.stderr(`${line}\n`),
    tty: io.tty && !env.CI && !env.GITHUB_ACTIONS,
    colour: io.tty && env.NO_COLOR === undefined,
  });
  // A password on the command line is a secret before anything is parsed: a usage error about
  // another flag must not print it either.
  for (const value of passwordsIn(argv)) logger.secret(value);
  for (const value of proxySecrets(env)) logger.secret(value);
  const fail = (message: string, code: number): number => {
    io.stderr(`${logger.masker.mask(`oci-push: ${oneLine(message)}`)}\n`);
    return code;
  };
  const usage = (error: Error): number => {
    // The settings are read for both shells: here they are flags, and said as flags.
    const message = error.message.replace(/\binput ([a-z][a-z0-9-]*)/g, '--$1');
    if (argv.includes('--json'))
      io.stdout(
        `${logger.masker.mask(JSON.stringify({ ok: false, usage: true, error: oneLine(message) }, null, 2))}\n`,
      );
    const code = fail(message, 2);
    io.stderr('(see oci-push --help)\n');
    return code;
  };
  return { io, logger, cancel, fail, usage };
}

/** The arguments, or the exit code of --help, --version or a usage error. */
async function parsed(run: CliRun, argv: string[]): Promise<ParsedArgs | number> {
  try {
    const args = parseArgs(argv);
    if (args.help) return (run.io.stdout(USAGE), 0);
    if (args.version) return (run.io.stdout(`oci-push ${VERSION}\n`), 0);
    const layout = args.inputs[Input.layout];
    if (args.passwordStdin && (layout === '-' || /^\/dev\/stdin(:|$)/.test(layout ?? '')))
      throw new UsageError(
        '--password-stdin and an image on stdin: one stdin carries one of them; give the image as a file, or the password with --password (or docker login)',
      );
    if (args.passwordStdin)
      args.inputs[Input.password] = (await run.io.stdin()).replace(/\r?\n$/, '');
    args.moreCredentials = await credsOf(run, args, layout);
    const password = args.inputs[Input.password];
    if (password) run.logger.secret(password);
    if (password && !args.passwordStdin)
      run.logger.warning(
        'a password on the command line can be read by other users of this machine and stays in the shell history; use --password-stdin',
      );
    return args;
  } catch (error) {
    if (error instanceof UsageError) return run.usage(error);
    return run.fail(errorMessage(error), 1);
  }
}

/**
 * `--creds HOST=USER:ENV` (the secret in the environment variable ENV) or `--creds HOST=USER` (the
 * secret on stdin: one stdin, so at most one such, and not with --password-stdin or an image on
 * stdin). Every secret is masked.
 */
async function credsOf(
  run: CliRun,
  args: ParsedArgs,
  layout: string | undefined,
): Promise<RegistryCredentials[]> {
  const out: RegistryCredentials[] = [];
  let stdinTaken = args.passwordStdin || layout === '-' || /^\/dev\/stdin(:|$)/.test(layout ?? '');
  for (const spec of args.creds) {
    const m = /^([^=\s]+)=([^:\s]+)(?::([A-Za-z_][A-Za-z0-9_]*))?$/.exec(spec);
    if (!m)
      throw new UsageError(
        `--creds ${JSON.stringify(spec)}: expected HOST=USER:ENV (the secret in the environment variable ENV) or HOST=USER (the secret on stdin)`,
      );
    const [, host, username, variable] = m as unknown as [string, string, string, string?];
    const registry = registryHostOf(host, `--creds ${host}`);
    let password: string;
    if (variable) {
      password = process.env[variable] ?? '';
      if (!password)
        throw new UsageError(`--creds ${spec}: the environment variable ${variable} is not set`);
    } else {
      if (stdinTaken)
        throw new UsageError(
          `--creds ${spec}: its secret would come from stdin, which already carries ${args.passwordStdin ? 'the --password-stdin password' : 'a secret or the image'}; name a variable: --creds ${host}=${username}:ENV`,
        );
      stdinTaken = true;
      password = (await run.io.stdin()).replace(/\r?\n$/, '');
    }
    run.logger.secret(password);
    out.push({ registry, credentials: { username, password, source: `--creds ${registry}` } });
  }
  return out;
}

/** The CLI: parses `argv` (without node and the script), runs, and returns the exit code. */
export async function main(
  argv: string[],
  io: CliIo = processIo,
  cancel?: Cancel,
): Promise<number> {
  const run = cliRun(argv, io, cancel);
  // Nothing at all: what can be typed, as a usage error.
  if (!argv.length) return (io.stderr(USAGE), 2);
  const args = await parsed(run, argv);
  if (typeof args === 'number') return args;
  const get = (name: InputName): string => args.inputs[name] ?? '';
  try {
    if (args.command === 'diagnose') return await runDiagnose(args, get, run.logger, io, cancel);
    return await push(run, args, get);
  } catch (error) {
    if (error instanceof UsageError) return run.usage(error);
    return run.fail(errorMessage(error), 1);
  }
}

/** `oci-push push`: the push, the diagnosis after a failure, the summary file, and the exit. */
async function push(
  run: CliRun,
  args: ParsedArgs,
  get: (name: InputName) => string,
): Promise<number> {
  const { logger, cancel } = run;
  const settings = {
    ...(await readPushSettings(get, 'the username and password flags')),
    moreCredentials: args.moreCredentials ?? [],
  };
  // Checked before anything is pushed: a summary that cannot be written must not fail a push
  // that already happened.
  if (args.summaryFile) await checkWritableFolder('--summary-file', args.summaryFile);
  const connections = openEarly(settings, process.env);
  // Loaded only for a push: --version, --help and usage errors never load the HTTP stack.
  const result = await import('../push/execute.js')
    .then(({ executePush }) =>
      executePush(settings, { logger, signal: cancel?.signal, connections }),
    )
    .finally(() => connections.destroy());
  let findings: Finding[] | undefined;
  if (!result.ok && settings.diagnose === 'on-failure') {
    const { diagnoseAfterFailure } = await import('../diagnose/after-failure.js');
    findings = await diagnoseAfterFailure(settings, result, {
      logger,
      signal: cancel?.signal,
    }).catch(() => undefined);
  }
  if (args.summaryFile && settings.summary)
    await writeFile(
      args.summaryFile,
      logger.masker.mask(renderSummary(result, { findings, shell: 'cli' })),
    );
  return reportPush(run, args, result);
}

/** What the push did, on stdout (the digest and refs, or JSON) and stderr (causes), and the exit. */
function reportPush(run: CliRun, args: ParsedArgs, result: PushResult): number {
  const { io, logger, cancel } = run;
  if (args.json) io.stdout(`${logger.masker.mask(JSON.stringify(jsonOf(result), null, 2))}\n`);
  else if (result.ok) {
    io.stdout(`${result.digest}\n`);
    for (const ref of result.refs) io.stdout(`${ref}\n`);
  }
  for (const w of observedWarnings(result, 'cli'))
    logger.warning(`${w.registry}: ${w.cause.title} Fix: ${w.cause.fix}`);
  for (const r of recoveries(result, 'cli')) logger.warning(`recovered: ${r.title} Fix: ${r.fix}`);
  if (result.ok) return 0;
  if (result.cause === 'cancelled')
    return run.fail(errorMessage(result.error), signalExitCode(cancel?.received()));
  run.fail(errorMessage(result.error), 1);
  for (const { cause, blobs } of failureCauses(result, 'cli')) {
    const hit = blobs.length ? ` (${blobs.length} blob${blobs.length === 1 ? '' : 's'})` : '';
    io.stderr(`  probable cause${hit}: ${cause.title}\n  fix: ${cause.fix}\n`);
  }
  // A signal during the diagnosis after it: the failure is said, and the exit says the signal.
  return cancel?.received() ? signalExitCode(cancel.received()) : 1;
}

/** Values of `--password` (`--password X` or `--password=X`) in raw argv, whatever else is wrong with it. */
function passwordsIn(argv: string[]): string[] {
  const out: string[] = [];
  argv.forEach((arg, i) => {
    if ((arg === '--password' || arg === '-p') && argv[i + 1] !== undefined)
      out.push(argv[i + 1] as string);
    else if (arg.startsWith('--password=')) out.push(arg.slice('--password='.length));
  });
  return out;
}

/** The outputs as JSON, with numbers and lists as such, and the causes of a failure. */
function jsonOf(result: PushResult): Record<string, unknown> {
  const json: Record<string, unknown> = { ok: result.ok };
  for (const [name, value] of Object.entries(checkedOutputs(outputsOf(result)).values))
    json[name] = /^[[{]/.test(value) || /^\d+$/.test(value) ? JSON.parse(value) : value;
  if (result.error) json.error = result.error.message;
  if (result.dryRun) json['dry-run'] = result.dryRun;
  const causes = failureCauses(result, 'cli');
  if (causes.length)
    json.causes = causes.map((g) => ({
      id: g.cause.id,
      title: g.cause.title,
      fix: g.cause.fix,
      blobs: g.blobs,
    }));
  return json;
}

/** `oci-push diagnose REF`: 1 when a check failed that a push cannot get past, else 0. */
async function runDiagnose(
  args: ParsedArgs,
  get: (name: InputName) => string,
  logger: ConsoleLogger,
  io: CliIo,
  cancel?: Cancel,
): Promise<number> {
  const settings = {
    ...(await readDiagnoseSettings(get, args.ref ?? '', args.maxProbe)),
    moreCredentials: args.moreCredentials ?? [],
  };
  const { diagnose } = await import('../diagnose/diagnose.js');
  const findings = await diagnose(settings, { logger, signal: cancel?.signal });
  if (cancel?.signal.aborted) {
    io.stderr(`${logger.masker.mask('oci-push: diagnose cancelled')}\n`);
    return signalExitCode(cancel.received());
  }
  const failed = blocking(findings);
  for (const id of new Set(failed.map((f) => f.cause ?? 'unknown'))) {
    const cause = causeOf(id, {}, 'cli');
    io.stderr(`probable cause: ${cause.title}\nfix: ${cause.fix}\n`);
  }
  // Exit 0 when a push with the defaults would get through, saying what it would work around.
  const workarounds = findings.filter((f) => f.workaround && f.ok === false);
  const around = [...new Set(workarounds.map((f) => f.cause ?? 'unknown'))];
  if (!failed.length)
    io.stderr(
      `a push with the defaults would succeed${around.length ? `, working around ${around.length === 1 ? 'this' : 'these'}:` : '.'}\n`,
    );
  for (const id of around)
    io.stderr(
      `  worked around: ${causeOf(id, {}, 'cli').title}\n    ${workaroundOf(id, 'cli') ?? ''}\n`,
    );
  if (args.json) {
    const json = findings.map((f) => ({
      ...f,
      ...(f.cause ? { cause: causeOf(f.cause, {}, 'cli') } : {}),
      ...(f.workaround && f.cause ? { workaround: workaroundOf(f.cause, 'cli') } : {}),
    }));
    io.stdout(
      `${logger.masker.mask(JSON.stringify({ ok: !failed.length, findings: json }, null, 2))}\n`,
    );
  }
  return failed.length ? 1 : 0;
}
