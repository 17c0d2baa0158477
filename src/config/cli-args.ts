import { existsSync } from 'node:fs';
import { UsageError } from '../util/errors.js';
import { INPUT_DEFAULTS, Input, type InputName } from './inputs.js';
import { type RegistryCredentials, isBooleanText, parseBoolean } from './settings.js';

export const CLI_FLAGS = {
  summaryFile: 'summary-file',
  json: 'json',
  verbose: 'verbose',
  quiet: 'quiet',
  help: 'help',
  version: 'version',
  passwordStdin: 'password-stdin',
  creds: 'creds',
  maxProbe: 'max-probe',
} as const;

type FlagName = InputName | (typeof CLI_FLAGS)[keyof typeof CLI_FLAGS];

/** Other tools' spellings of a flag that means the same here. */
const ALIASES: Readonly<Record<string, FlagName>> = {
  annotation: Input.annotations,
  platform: Input.platforms,
};

const SHORT_FLAGS: Readonly<Record<string, FlagName>> = {
  '-h': CLI_FLAGS.help,
  '-v': CLI_FLAGS.version,
  '-q': CLI_FLAGS.quiet,
  '-u': Input.username,
  '-p': Input.password,
};

interface FlagSpec {
  name: FlagName;
  /** The value's placeholder in --help; absent for a boolean flag. */
  value?: string;
  help: string;
  /** May be given more than once; the values are joined as a list. */
  repeatable?: boolean;
}

/**
 * Every flag, in the order --help lists them: each input of action.yml (a test checks that none is
 * missing), then the CLI's own. --help is generated from this table, so it cannot drift.
 */
export const FLAGS: readonly FlagSpec[] = [
  {
    name: Input.layout,
    value: 'PATH[:REF]',
    help: 'OCI layout folder or tar(.gz), or a docker-archive; REF picks an image',
  },
  {
    name: Input.image,
    value: 'NAME',
    help: 'a local image in docker or podman, instead of a layout',
  },
  {
    name: Input.indexFrom,
    value: 'DIGEST|REF',
    help: 'manifests already in the registry to assemble into an index; repeat',
    repeatable: true,
  },
  {
    name: Input.tags,
    value: 'REF',
    help: 'target reference; repeat, or separate with commas',
    repeatable: true,
  },
  {
    name: Input.annotations,
    value: 'KEY=VALUE',
    help: 'an annotation for the index --index-from creates; repeat (--annotation too)',
    repeatable: true,
  },
  {
    name: Input.mountFrom,
    value: 'REPO|REF',
    help: 'a repository or image on the target registry that holds the base layers; repeat',
    repeatable: true,
  },
  {
    name: Input.platforms,
    value: 'OS/ARCH[/VARIANT]',
    help: 'push only these platforms of an index, as a new index (also --platform); repeat',
    repeatable: true,
  },
  {
    name: Input.dryRun,
    help: 'check what exists and say what a push would send and tag; write nothing',
  },
  {
    name: Input.duplicatePlatforms,
    value: 'refuse|allow',
    help: 'index-from: two manifests for one platform',
  },
  { name: Input.pushByDigest, help: 'push without tags (the tags name repositories only)' },
  { name: Input.engine, value: 'ENGINE', help: 'auto, docker or podman, for --image' },
  { name: Input.compression, value: 'C', help: 'gzip or none, for docker-archive layers' },
  {
    name: Input.maxImageSize,
    value: 'SIZE',
    help: 'the most an archive or stdin may expand to in the temp folder (default: its free space less 256 MiB)',
  },
  {
    name: Input.username,
    value: 'USER',
    help: 'registry user (with --password or --password-stdin), for --registry',
  },
  {
    name: Input.registry,
    value: 'HOST',
    help: "the registry --username is for (default: the first target's)",
  },
  { name: Input.password, value: 'PASSWORD', help: 'registry password or token' },
  { name: CLI_FLAGS.passwordStdin, help: 'read the password from standard input' },
  {
    name: CLI_FLAGS.creds,
    value: 'HOST=USER[:ENV]',
    help: 'credentials for another registry: the secret in the environment variable ENV, else on stdin; repeat',
    repeatable: true,
  },
  {
    name: Input.githubToken,
    value: 'TOKEN',
    help: 'for ghcr.io when no other credentials are found',
  },
  { name: Input.caFile, value: 'FILE', help: 'PEM file of extra CA certificates to trust' },
  { name: Input.insecure, help: 'allow http and unverified TLS for non-loopback registries' },
  {
    name: Input.concurrency,
    value: 'N',
    help: 'blobs uploaded at once; sixteen blobs of at most 1 MiB share one place (1: strictly one at a time)',
  },
  {
    name: Input.retries,
    value: 'N',
    help: 'tries again per request and per blob, one shared budget',
  },
  {
    name: Input.requestTimeout,
    value: 'TIME',
    help: 'how long a request waits for an answer, such as 30s (a commit gets more per byte)',
  },
  { name: Input.uploadMode, value: 'MODE', help: 'auto, monolithic or chunked' },
  {
    name: Input.chunkSize,
    value: 'SIZE',
    help: 'chunk size, such as 50MiB; halved when refused, never below 64 KiB',
  },
  { name: Input.summary, help: 'write the summary (with --summary-file)' },
  {
    name: Input.diagnose,
    value: 'WHEN',
    help: 'on-failure or never: probe the registry after a failed push',
  },
  { name: CLI_FLAGS.summaryFile, value: 'FILE', help: 'write the markdown summary to FILE' },
  { name: Input.digestFile, value: 'FILE', help: 'write the pushed digest to FILE' },
  { name: CLI_FLAGS.json, help: 'print the outputs (or the usage error) as JSON on stdout' },
  { name: CLI_FLAGS.verbose, help: 'log every request' },
  { name: CLI_FLAGS.quiet, help: 'print only errors, warnings and the result' },
  { name: CLI_FLAGS.maxProbe, help: 'diagnose: also upload 100 MB + 1 byte' },
  { name: CLI_FLAGS.version, help: 'print the version' },
  { name: CLI_FLAGS.help, help: 'print this help' },
];

const SPECS = new Map(FLAGS.map((f) => [f.name as string, f]));
const INPUT_NAMES = new Set<string>(Object.values(Input));

export interface ParsedArgs {
  command: 'push' | 'diagnose';
  /** The reference `diagnose` probes. */
  ref?: string;
  maxProbe: boolean;
  inputs: Partial<Record<InputName, string>>;
  summaryFile?: string;
  json: boolean;
  verbose: boolean;
  quiet: boolean;
  help: boolean;
  version: boolean;
  passwordStdin: boolean;
  /** `--creds HOST=USER[:ENV]`, as given. */
  creds: string[];
  /** The same, read: each registry's credentials, the secret from its variable or stdin. */
  moreCredentials?: RegistryCredentials[];
}

/**
 * The short form `push SOURCE REF [REF…]`: SOURCE is a layout folder or archive, an image in an
 * engine (`podman://NAME`), or a source as skopeo names it: `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`,
 * `docker-archive:FILE[:REF]`, `docker-daemon:NAME`, `containers-storage:NAME`. In skopeo
 * `docker://` is a registry, so it is refused as a source rather than read as the docker engine.
 */
function sourceInputs(source: string): Partial<Record<InputName, string>> {
  if (source.startsWith('docker://'))
    throw new UsageError(
      `${JSON.stringify(source)}: docker:// names a registry (as in skopeo), and oci-push does not copy from registries; for an image in the docker engine write docker-daemon:${source.slice('docker://'.length)}`,
    );
  const transport = /^(oci|oci-archive|docker-archive|docker-daemon|containers-storage):(.+)$/.exec(
    source,
  );
  if (transport) {
    const [, name, rest] = transport as unknown as [string, string, string];
    if (name === 'docker-daemon') return { [Input.image]: rest, [Input.engine]: 'docker' };
    if (name === 'containers-storage') return { [Input.image]: rest, [Input.engine]: 'podman' };
    return { [Input.layout]: rest };
  }
  const engine = /^podman:\/\/(.+)$/.exec(source);
  if (engine) return { [Input.image]: engine[1], [Input.engine]: 'podman' };
  return { [Input.layout]: source };
}

/** One `--name[=value]` and its value, taking the next argument when the flag needs one. */
function flagValue(name: string, inline: string | undefined, args: string[]): string {
  const spec = SPECS.get(name);
  if (!spec) throw new UsageError(`unknown flag --${name}${suggestion(name)}`);
  let value = inline;
  if (value === undefined) {
    if (!spec.value) {
      // `--insecure false` reads as `--insecure=false`; a bare flag is true.
      value = args[0] !== undefined && isBooleanText(args[0]) ? (args.shift() as string) : 'true';
    } else {
      const next = args.shift();
      // A flag is never a value: `--chunk-size --json` is a missing value, not a chunk size.
      if (next === undefined || next.startsWith('--'))
        throw new UsageError(`flag --${name} needs a value (${spec.value})`);
      value = next;
    }
  }
  if (!spec.value) parseBoolean(`--${name}`, value);
  return value;
}

/** Every flag's values (in order, for the repeatable ones) and the positional arguments. */
function readFlags(args: string[]): { values: Map<string, string[]>; positional: string[] } {
  const values = new Map<string, string[]>();
  const positional: string[] = [];
  while (args.length) {
    const arg = args.shift() as string;
    // The short flags people type from other tools: a `-p value` is `--password value`.
    const short = SHORT_FLAGS[arg];
    if (short) {
      values.set(short, [flagValue(short, undefined, args)]);
      continue;
    }
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    if (!m) {
      if (arg.startsWith('-') && arg !== '-')
        throw new UsageError(
          `unknown flag ${JSON.stringify(arg)}${suggestion(arg.replace(/^-+/, '').split('=')[0] ?? '')}`,
        );
      positional.push(arg);
      continue;
    }
    // `--annotation`, as buildx spells it, is `--annotations` given once more; `--platform`, as
    // docker and skopeo spell it, is `--platforms`.
    const name = ALIASES[m[1] as string] ?? (m[1] as string);
    const value = flagValue(name, m[2], args);
    const list = values.get(name) ?? [];
    if (list.length && !SPECS.get(name)?.repeatable)
      throw new UsageError(`flag --${name} given more than once`);
    list.push(value);
    values.set(name, list);
  }
  return { values, positional };
}

/** The short form's arguments into inputs: `push SOURCE REF [REF…]`, or `diagnose REF`. */
function readPositional(
  command: ParsedArgs['command'],
  positional: string[],
  inputs: Partial<Record<InputName, string>>,
  help: boolean,
): string | undefined {
  if (command === 'diagnose') {
    const ref = positional.shift();
    if (ref === undefined && !help)
      throw new UsageError(
        'diagnose needs a reference, such as oci-push diagnose registry.example.com/team/app',
      );
    if (positional.length)
      throw new UsageError(`unexpected argument ${JSON.stringify(positional[0])}`);
    return ref;
  }
  if (!positional.length) return undefined;
  const [source, ...refs] = positional;
  if (inputs[Input.layout] || inputs[Input.image] || inputs[Input.indexFrom])
    throw new UsageError(
      `unexpected argument ${JSON.stringify(source)}: the source is given by a flag already`,
    );
  if (!refs.length)
    throw new UsageError(
      `${JSON.stringify(source)} needs a target: oci-push push SOURCE REF [REF…]`,
    );
  Object.assign(inputs, sourceInputs(source as string));
  inputs[Input.tags] = [inputs[Input.tags], ...refs].filter(Boolean).join('\n');
  return undefined;
}

/**
 * `--name value`, `--name=value`, booleans as `--flag`, `--flag=false` or `--flag false`, and the
 * repeatable flags given again. Every action input is a flag.
 */
export function parseArgs(argv: string[]): ParsedArgs {
  const args = [...argv];
  let command: ParsedArgs['command'] = 'push';
  if (args[0] === 'push' || args[0] === 'diagnose') command = args.shift() as ParsedArgs['command'];
  // `oci-push help` and `oci-push version`, as git and docker take them.
  else if (args[0] === 'help') args.splice(0, 1, `--${CLI_FLAGS.help}`);
  else if (args[0] === 'version') args.splice(0, 1, `--${CLI_FLAGS.version}`);
  else refuseMistypedCommand(args[0]);
  const { values, positional } = readFlags(args);
  const flag = (name: string): boolean =>
    parseBoolean(`--${name}`, values.get(name)?.[0] ?? 'false');
  const inputs: Partial<Record<InputName, string>> = {};
  for (const [name, list] of values)
    if (INPUT_NAMES.has(name)) inputs[name as InputName] = list.join('\n');
  const help = flag(CLI_FLAGS.help);
  const ref = readPositional(command, positional, inputs, help);
  return {
    command,
    ref,
    maxProbe: flag(CLI_FLAGS.maxProbe),
    inputs,
    summaryFile: values.get(CLI_FLAGS.summaryFile)?.[0],
    json: flag(CLI_FLAGS.json),
    verbose: flag(CLI_FLAGS.verbose),
    quiet: flag(CLI_FLAGS.quiet),
    help,
    version: flag(CLI_FLAGS.version),
    passwordStdin: flag(CLI_FLAGS.passwordStdin),
    creds: values.get(CLI_FLAGS.creds) ?? [],
  };
}

const COMMANDS = ['push', 'diagnose', 'help', 'version'];

/**
 * A first word that is one or two letters from a command (`diagnos`, `pusj`) is a typo, unless a
 * file or folder of that name is there to push: it is never taken as a layout path in silence.
 */
function refuseMistypedCommand(word: string | undefined): void {
  if (!word || !/^[a-z]+$/.test(word) || existsSync(word)) return;
  const near = COMMANDS.find((c) => distance(word, c) <= (c.length > 4 ? 2 : 1));
  if (near) throw new UsageError(`unknown command ${JSON.stringify(word)} (did you mean ${near}?)`);
}

/** Edits between two short words: insertions, deletions and substitutions. */
/** Edits between two short words: insertions, deletions, substitutions, and swaps of neighbours. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      // `quite` for `quiet`: two letters swapped are one slip.
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  return d[a.length]![b.length]!;
}

/**
 * Flags of skopeo, crane, regctl and docker that have an equivalent here, and what to type instead.
 * Only those: a flag that means nothing here gets no invented advice.
 */
const FOREIGN_FLAGS: Readonly<Record<string, string>> = {
  'tls-verify': 'here: --insecure, for --tls-verify=false',
  'dest-tls-verify': 'here: --insecure, for --dest-tls-verify=false',
  'src-tls-verify': 'here: --insecure, for a registry without trusted TLS',
  authfile:
    'here: REGISTRY_AUTH_FILE=FILE or DOCKER_CONFIG=DIR, read as podman and docker read them',
  'dest-authfile': 'here: REGISTRY_AUTH_FILE=FILE or DOCKER_CONFIG=DIR',
  'dest-creds': 'here: --username USER --password-stdin',
  'registry-username': 'here: --username',
  'registry-password': 'here: --password-stdin',
  'insecure-registry': 'here: --insecure',
  'cert-dir': 'here: --ca-file FILE',
  cacert: 'here: --ca-file FILE',
  'ca-cert': 'here: --ca-file FILE',
  'dest-cert-dir': 'here: --ca-file FILE',
  digestfile: 'here: --digest-file FILE',
  iidfile: 'here: --digest-file FILE',
  debug: 'here: --verbose',
  'log-level': 'here: --verbose or --quiet',
};

/** ` (did you mean --tags?)` for a near miss: a typo, a missing plural, a prefix of one flag. */
function suggestion(name: string): string {
  const lower = name.toLowerCase();
  const foreign = FOREIGN_FLAGS[lower];
  if (foreign) return ` (${foreign})`;
  const names = FLAGS.map((f) => f.name as string);
  // `--retry` for `--retries`: a stem the word was bent from.
  const stem = lower.length >= 5 ? lower.slice(0, -1) : lower;
  const prefixed = names.filter((n) => stem.length >= 3 && n.startsWith(stem));
  const close = names
    .map((n) => ({ n, d: distance(lower, n) }))
    .filter(({ n, d }) => d <= (n.length > 6 ? 2 : 1))
    .sort((a, b) => a.d - b.d);
  const best = prefixed.length === 1 ? prefixed[0] : close[0]?.n;
  return best ? ` (did you mean --${best}?)` : '';
}

function optionLines(): string[] {
  const shortOf = (name: FlagName): string | undefined =>
    Object.entries(SHORT_FLAGS).find(([, long]) => long === name)?.[0];
  const left = FLAGS.map((f) => {
    const short = shortOf(f.name);
    return `${short ? `${short}, ` : ''}--${f.name}${f.value ? ` ${f.value}` : ''}`;
  });
  const width = Math.max(...left.map((l) => l.length)) + 2;
  return FLAGS.map((f, i) => {
    const fallback = INPUT_DEFAULTS[f.name as InputName];
    const help = fallback !== undefined ? `${f.help} (default ${fallback})` : f.help;
    return `  ${(left[i] as string).padEnd(width)}${help}`;
  });
}

export const USAGE = `Usage: oci-push push SOURCE REF [REF...] [options]
       oci-push [push] (--layout PATH[:REF] | --image NAME | --index-from DIGEST) --tags REF [options]
       oci-push diagnose REF [--username USER --password-stdin] [--insecure] [--max-probe] [--json]

Pushes an OCI image to one or more registries, verifying every blob before any manifest is
pushed. SOURCE is a layout folder or archive, - for stdin, or as skopeo names it: oci:DIR[:REF],
oci-archive:FILE, docker-archive:FILE, docker-daemon:NAME, containers-storage:NAME (podman://NAME
too). docker:// is a registry, as in skopeo: oci-push does not copy from registries.

Options (every input of the GitHub Action is a flag of the same name, with the same default):
${optionLines().join('\n')}

diagnose probes a registry in at most 30 s: /v2/ and its auth, push access, a small blob uploaded
monolithically, a 1 MiB + 1 byte blob monolithically (body size limits) and in chunks, each read back
with HEAD. The blobs have fixed contents, so probes leave nothing new behind.

Exit codes: 0 pushed, 1 the push failed or the input is bad, 2 bad usage, 130 or 143 cancelled
(SIGINT or SIGTERM). diagnose exits 1 only when a check fails that a push cannot get past.
`;
