import { writeFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { type ParsedArgs, USAGE, parseArgs } from './cli-args.js';
import { UsageError, errorMessage } from './errors.js';
import { Input, parseInputs } from './inputs.js';
import { executePush } from './push/execute.js';
import { readCa } from './registry/ca-file.js';
import { parseReference } from './registry/reference.js';
import { createConsoleLogger } from './report/console-logger.js';
import { outputsOf } from './report/outputs.js';
import { renderSummary } from './report/summary.js';

async function main(argv: string[]): Promise<number> {
  const logger = createConsoleLogger({ verbose: argv.includes('--verbose') });
  const fail = (message: string, code: number): number => {
    process.stderr.write(`${logger.masker.mask(`oci-push: ${message}`)}\n`);
    return code;
  };
  let args;
  let inputs;
  try {
    args = parseArgs(argv);
    if (args.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (args.passwordStdin)
      args.inputs[Input.password] = (await text(process.stdin)).replace(/\r?\n$/, '');
    const password = args.inputs[Input.password];
    if (password) logger.secret(password);
    if (args.command === 'diagnose') return await runDiagnose(args, logger);
    inputs = parseInputs((name) => args!.inputs[name] ?? '');
  } catch (error) {
    if (error instanceof UsageError) return fail(`${error.message}\n(see oci-push --help)`, 2);
    return fail(errorMessage(error), 1);
  }
  const result = await executePush(inputs, { logger });
  if (args.summaryFile && inputs.summary) {
    await writeFile(args.summaryFile, logger.masker.mask(renderSummary(result)));
  }
  if (args.json) {
    const outputs = outputsOf(result);
    const json: Record<string, unknown> = { ok: result.ok };
    for (const [name, value] of Object.entries(outputs))
      json[name] = /^[[{]/.test(value) || /^\d+$/.test(value) ? JSON.parse(value) : value;
    if (result.error) json.error = result.error.message;
    process.stdout.write(`${logger.masker.mask(JSON.stringify(json, null, 2))}\n`);
  } else if (result.ok) {
    process.stdout.write(`${result.digest}\n`);
    for (const ref of result.refs) process.stdout.write(`${ref}\n`);
  }
  if (!result.ok) return fail(errorMessage(result.error), 1);
  return 0;
}

/** `oci-push diagnose REF`: 0 when every check passed, 1 when one failed. */
async function runDiagnose(
  args: ParsedArgs,
  logger: ReturnType<typeof createConsoleLogger>,
): Promise<number> {
  const ref = parseReference(args.ref ?? '');
  const username = args.inputs[Input.username]?.trim();
  const password = args.inputs[Input.password];
  if (Boolean(username) !== Boolean(password))
    throw new UsageError('--username and --password go together');
  const { diagnose } = await import('./diagnose/diagnose.js');
  const findings = await diagnose({
    ref,
    credentials:
      username && password
        ? { username, password, source: 'the username and password flags' }
        : undefined,
    insecure: /^(true|1|yes)$/i.test(args.inputs[Input.insecure] ?? 'false'),
    maxProbe: args.maxProbe,
    ca: await readCa(args.inputs[Input.caFile]),
    githubToken: args.inputs[Input.githubToken],
    logger,
  });
  if (args.json)
    process.stdout.write(
      `${logger.masker.mask(JSON.stringify({ ok: findings.every((f) => f.ok), findings }, null, 2))}\n`,
    );
  return findings.every((f) => f.ok) ? 0 : 1;
}

// Until main settles the exit code is 1: should an operation never settle, Node exits once the
// event loop empties, and that must not look like success.
process.exitCode = 1;
let settled = false;
process.once('beforeExit', () => {
  if (!settled)
    process.stderr.write(
      'oci-push: stopped before finishing: an operation never completed (a bug; please report it)\n',
    );
});
/**
 * Ends the process once stdout and stderr have flushed. Every result is written by then, and closing
 * sockets would otherwise keep an idle process alive for up to ~100 ms: much of a re-push.
 */
function exitWhenFlushed(code: number): void {
  process.exitCode = code;
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

main(process.argv.slice(2)).then(
  (code) => {
    settled = true;
    exitWhenFlushed(code);
  },
  (error: unknown) => {
    settled = true;
    process.stderr.write(`oci-push: ${errorMessage(error)}\n`);
    process.exitCode = 1;
  },
);
