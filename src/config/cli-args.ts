import { UsageError } from '../util/errors.js';
import { INPUT_DEFAULTS, Input, type InputName } from './inputs.js';
import { isBooleanText, parseBoolean } from './settings.js';

export const CLI_FLAGS = {
  summaryFile: 'summary-file',
  json: 'json',
  verbose: 'verbose',
  help: 'help',
  passwordStdin: 'password-stdin',
  maxProbe: 'max-probe',
} as const;

const INPUT_NAMES = new Set<string>(Object.values(Input));
const BOOLEAN_FLAGS = new Set<string>([
  Input.insecure,
  Input.pushByDigest,
  Input.summary,
  CLI_FLAGS.json,
  CLI_FLAGS.verbose,
  CLI_FLAGS.help,
  CLI_FLAGS.passwordStdin,
  CLI_FLAGS.maxProbe,
]);
const CLI_ONLY = new Set<string>(Object.values(CLI_FLAGS));
/** Flags that may be given more than once; their values are joined as a list. */
const REPEATABLE = new Set<string>([Input.tags]);

export interface ParsedArgs {
  command: 'push' | 'diagnose';
  /** The reference `diagnose` probes. */
  ref?: string;
  maxProbe: boolean;
  inputs: Partial<Record<InputName, string>>;
  summaryFile?: string;
  json: boolean;
  verbose: boolean;
  help: boolean;
  passwordStdin: boolean;
}

/** `--name value`, `--name=value`, bare booleans, and `--tags` repeated. Every action input is a flag. */
export function parseArgs(argv: string[]): ParsedArgs {
  const values = new Map<string, string[]>();
  const args = [...argv];
  let command: ParsedArgs['command'] = 'push';
  let ref: string | undefined;
  if (args[0] === 'push' || args[0] === 'diagnose') command = args.shift() as ParsedArgs['command'];
  while (args.length) {
    const arg = args.shift() as string;
    if (arg === '-h') {
      values.set(CLI_FLAGS.help, ['true']);
      continue;
    }
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    if (!m && command === 'diagnose' && ref === undefined && !arg.startsWith('-')) {
      ref = arg;
      continue;
    }
    if (!m) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    const name = m[1] as string;
    if (!INPUT_NAMES.has(name) && !CLI_ONLY.has(name))
      throw new UsageError(`unknown flag --${name}`);
    let value = m[2];
    if (value === undefined) {
      if (BOOLEAN_FLAGS.has(name)) {
        // `--insecure false` reads as `--insecure=false`; a bare flag is true.
        value = args[0] !== undefined && isBooleanText(args[0]) ? (args.shift() as string) : 'true';
      } else {
        const next = args.shift();
        // A flag is never a value: `--chunk-size --json` is a missing value, not a chunk size.
        if (next === undefined || next.startsWith('--'))
          throw new UsageError(`flag --${name} needs a value`);
        value = next;
      }
    }
    if (BOOLEAN_FLAGS.has(name)) parseBoolean(`--${name}`, value);
    const list = values.get(name) ?? [];
    if (list.length && !REPEATABLE.has(name))
      throw new UsageError(`flag --${name} given more than once`);
    list.push(value);
    values.set(name, list);
  }
  const flag = (name: string): boolean =>
    parseBoolean(`--${name}`, values.get(name)?.[0] ?? 'false');
  const inputs: Partial<Record<InputName, string>> = {};
  for (const [name, list] of values)
    if (INPUT_NAMES.has(name)) inputs[name as InputName] = list.join('\n');
  if (command === 'diagnose' && ref === undefined && !flag(CLI_FLAGS.help)) {
    throw new UsageError(
      'diagnose needs a reference, such as oci-push diagnose registry.example.com/team/app',
    );
  }
  return {
    command,
    ref,
    maxProbe: flag(CLI_FLAGS.maxProbe),
    inputs,
    summaryFile: values.get(CLI_FLAGS.summaryFile)?.[0],
    json: flag(CLI_FLAGS.json),
    verbose: flag(CLI_FLAGS.verbose),
    help: flag(CLI_FLAGS.help),
    passwordStdin: flag(CLI_FLAGS.passwordStdin),
  };
}

export const USAGE = `Usage: oci-push [push] (--layout PATH[:REF] | --image NAME) --tags REF [--tags REF ...] [options]
       oci-push diagnose REF [--username USER --password-stdin] [--insecure] [--max-probe] [--json]

Pushes an OCI image layout (folder or tar) to one or more registries, verifying every blob
before any manifest is pushed.

Options (each is also an input of the GitHub Action, with the same default):
    --${Input.layout} PATH[:REF]     OCI layout folder or tar(.gz), or docker-archive; REF picks an image
  --${Input.image} NAME            a local image in docker or podman, instead of --${Input.layout}
  --${Input.engine} ENGINE         auto, docker or podman (default ${INPUT_DEFAULTS[Input.engine]})
  --${Input.compression} C         gzip or none, for docker-archive layers (default ${INPUT_DEFAULTS[Input.compression]})
  --${Input.tags} REF              target reference; repeat, or separate with commas
  --${Input.username} USER         registry user (with --${Input.password} or --${CLI_FLAGS.passwordStdin})
  --${Input.password} PASSWORD     registry password or token
  --${CLI_FLAGS.passwordStdin}         read the password from standard input
  --${Input.insecure}              allow http and unverified TLS for non-loopback registries
  --${Input.concurrency} N         blobs uploaded at once (default ${INPUT_DEFAULTS[Input.concurrency]})
  --${Input.retries} N             tries again per request and per blob, one shared budget (default ${INPUT_DEFAULTS[Input.retries]})
  --${Input.uploadMode} MODE       auto, monolithic or chunked (default ${INPUT_DEFAULTS[Input.uploadMode]})
  --${Input.chunkSize} SIZE        chunk size, such as 50MiB or 100MB (default ${INPUT_DEFAULTS[Input.chunkSize]})
  --${Input.summary} BOOL          write the summary (default ${INPUT_DEFAULTS[Input.summary]})
  --${CLI_FLAGS.summaryFile} FILE    write the markdown summary to FILE
  --${CLI_FLAGS.json}                 print the outputs as JSON on stdout
  --${CLI_FLAGS.verbose}              log every request
  --${Input.diagnose} WHEN          on-failure or never (the action probes the registry after a failure)

diagnose probes a registry in at most 30 s: /v2/ and its auth, push access, a small blob uploaded
monolithically, a 1 MiB + 1 byte blob monolithically (body size limits) and in chunks, each read back
with HEAD. The blobs have fixed contents, so probes leave nothing new behind. --${CLI_FLAGS.maxProbe} also
uploads 100 MB + 1 byte (Cloudflare's Free and Pro limit).

Exit codes: 0 pushed (diagnose: every check passed), 1 push failed, bad input, or a check failed,
2 bad usage.
`;
