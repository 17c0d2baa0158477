import { constants } from 'node:fs';
import { access, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { text } from 'node:stream/consumers';
import { type ParsedArgs, USAGE, parseArgs } from '../config/cli-args.js';
import { Input, type InputName } from '../config/inputs.js';
import { readDiagnoseSettings, readPushSettings } from '../config/settings.js';
import { executePush } from '../push/execute.js';
import { causeOf } from '../report/causes.js';
import { outputsOf } from '../report/outputs.js';
import { failureCauses, renderSummary } from '../report/summary.js';
import { UsageError, errorMessage } from '../util/errors.js';
import { oneLine } from '../util/text.js';
import { signalExitCode } from '../util/cancel.js';
import { createConsoleLogger } from './console-logger.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stdin: () => Promise<string>;
}

const processIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  stdin: () => text(process.stdin),
};

type ConsoleLogger = ReturnType<typeof createConsoleLogger>;

/** The CLI: parses `argv` (without node and the script), runs, and returns the exit code. */
export async function main(
  argv: string[],
  io: CliIo = processIo,
  cancel?: { signal: AbortSignal; received(): string | undefined },
): Promise<number> {
  const logger = createConsoleLogger({
    verbose: argv.includes('--verbose'),
    write: (line) => io.stderr(`${line}\n`),
  });
  const fail = (message: string, code: number): number => {
    io.stderr(`${logger.masker.mask(`oci-push: ${oneLine(message)}`)}\n`);
    return code;
  };
  const usage = (error: Error): number => {
    const code = fail(error.message, 2);
    io.stderr('(see oci-push --help)\n');
    return code;
  };
  let args: ParsedArgs;
  try {
    args = parseArgs(argv);
    if (args.help) {
      io.stdout(USAGE);
      return 0;
    }
    if (args.passwordStdin) args.inputs[Input.password] = (await io.stdin()).replace(/\r?\n$/, '');
    const password = args.inputs[Input.password];
    if (password) logger.secret(password);
  } catch (error) {
    if (error instanceof UsageError) return usage(error);
    return fail(errorMessage(error), 1);
  }
  const get = (name: InputName): string => args.inputs[name] ?? '';
  try {
    if (args.command === 'diagnose') return await runDiagnose(args, get, logger, io);
    const settings = await readPushSettings(get, 'the username and password flags');
    // Checked before anything is pushed: a summary that cannot be written must not fail a push
    // that already happened.
    if (args.summaryFile) await checkWritableFolder(args.summaryFile);
    const result = await executePush(settings, { logger, signal: cancel?.signal });
    if (args.summaryFile && settings.summary)
      await writeFile(args.summaryFile, logger.masker.mask(renderSummary(result)));
    if (args.json) {
      const outputs = outputsOf(result);
      const json: Record<string, unknown> = { ok: result.ok };
      for (const [name, value] of Object.entries(outputs))
        json[name] = /^[[{]/.test(value) || /^\d+$/.test(value) ? JSON.parse(value) : value;
      if (result.error) json.error = result.error.message;
      const causes = failureCauses(result);
      if (causes.length)
        json.causes = causes.map((g) => ({
          id: g.cause.id,
          title: g.cause.title,
          fix: g.cause.fix,
          blobs: g.blobs,
        }));
      io.stdout(`${logger.masker.mask(JSON.stringify(json, null, 2))}\n`);
    } else if (result.ok) {
      io.stdout(`${result.digest}\n`);
      for (const ref of result.refs) io.stdout(`${ref}\n`);
    }
    if (result.ok) return 0;
    if (result.cause === 'cancelled')
      return fail(errorMessage(result.error), signalExitCode(cancel?.received()));
    fail(errorMessage(result.error), 1);
    for (const { cause, blobs } of failureCauses(result)) {
      const hit = blobs.length ? ` (${blobs.length} blob${blobs.length === 1 ? '' : 's'})` : '';
      io.stderr(`  probable cause${hit}: ${cause.title}\n  fix: ${cause.fix}\n`);
    }
    return 1;
  } catch (error) {
    if (error instanceof UsageError) return usage(error);
    return fail(errorMessage(error), 1);
  }
}

/** `oci-push diagnose REF`: 0 when every check passed, 1 when one failed. */
async function runDiagnose(
  args: ParsedArgs,
  get: (name: InputName) => string,
  logger: ConsoleLogger,
  io: CliIo,
): Promise<number> {
  const settings = await readDiagnoseSettings(get, args.ref ?? '', args.maxProbe);
  const { diagnose } = await import('../diagnose/diagnose.js');
  const findings = await diagnose(settings, { logger });
  const failed = findings.filter((f) => f.ok === false);
  for (const id of new Set(failed.map((f) => f.cause ?? 'unknown'))) {
    const cause = causeOf(id);
    io.stderr(`probable cause: ${cause.title}\nfix: ${cause.fix}\n`);
  }
  if (args.json) {
    const json = findings.map((f) => ({
      ...f,
      ...(f.cause ? { cause: causeOf(f.cause) } : {}),
    }));
    io.stdout(
      `${logger.masker.mask(JSON.stringify({ ok: !failed.length, findings: json }, null, 2))}\n`,
    );
  }
  return failed.length ? 1 : 0;
}

async function checkWritableFolder(file: string): Promise<void> {
  const folder = dirname(resolve(file));
  const info = await stat(folder).catch(() => undefined);
  if (!info?.isDirectory())
    throw new UsageError(`--summary-file ${file}: the folder ${folder} does not exist`);
  await access(folder, constants.W_OK).catch(() => {
    throw new UsageError(`--summary-file ${file}: the folder ${folder} is not writable`);
  });
}
