import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as z from '../oci/schema.js';
import { InputError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { Credentials } from './auth.js';
import { DOCKER_HUB, canonicalHost } from './reference.js';

const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const HELPER_TIMEOUT_MS = 30_000;

const authEntrySchema = z.looseObject({
  auth: z.optional(z.string()),
  username: z.optional(z.string()),
  password: z.optional(z.string()),
  identitytoken: z.optional(z.string()),
});

const dockerConfigSchema = z.looseObject({
  auths: z.optional(z.record(z.string(), authEntrySchema)),
  credHelpers: z.optional(z.record(z.string(), z.string())),
  credsStore: z.optional(z.string()),
});

type DockerConfig = z.infer<typeof dockerConfigSchema>;
type AuthEntry = z.infer<typeof authEntrySchema>;

export interface CredentialSources {
  env: NodeJS.ProcessEnv;
  home?: string;
  logger: Logger;
}

/** `https://index.docker.io/v1/` → `docker.io`; `https://host:5000/path` → `host:5000/path`. */
export function normaliseAuthKey(key: string): string {
  let k = key
    .trim()
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/+$/, '');
  if (/^(index\.docker\.io|registry-1\.docker\.io|docker\.io)(\/v1)?$/i.test(k)) return DOCKER_HUB;
  k = k.replace(/\/v[12]$/, '');
  // Host names compare case-insensitively and :443 is the default: one key for each registry.
  const slash = k.indexOf('/');
  const host = slash < 0 ? k : k.slice(0, slash);
  return canonicalHost(host) + (slash < 0 ? '' : k.slice(slash));
}

/** The most specific key for `registry/repository`: podman allows per-namespace entries. */
function findEntry<T>(
  entries: Record<string, T> | undefined,
  registry: string,
  repository: string,
): T | undefined {
  if (!entries) return undefined;
  const normalised = new Map<string, T>();
  for (const [key, value] of Object.entries(entries)) {
    const k = normaliseAuthKey(key);
    if (!normalised.has(k)) normalised.set(k, value);
  }
  const parts = repository.split('/');
  for (let i = parts.length; i >= 0; i--) {
    const key = i === 0 ? registry : `${registry}/${parts.slice(0, i).join('/')}`;
    const hit = normalised.get(key);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

async function readConfig(path: string): Promise<DockerConfig | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InputError(`${path}: malformed JSON (${(error as Error).message})`);
  }
  const parsed = dockerConfigSchema.safeParse(value);
  if (!parsed.success) throw new InputError(`${path}: not a valid credentials file`);
  return parsed.data;
}

function fromEntry(entry: AuthEntry, source: string, logger: Logger): Credentials | undefined {
  if (entry.auth) logger.secret(entry.auth);
  if (entry.password) logger.secret(entry.password);
  if (entry.identitytoken) logger.secret(entry.identitytoken);
  if (entry.identitytoken)
    return { username: entry.username, identityToken: entry.identitytoken, source };
  if (entry.username && entry.password)
    return { username: entry.username, password: entry.password, source };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      const password = decoded.slice(colon + 1);
      logger.secret(password);
      return { username: decoded.slice(0, colon), password, source };
    }
  }
  return undefined;
}

/**
 * The program a helper name stands for. On Windows it is an .exe (`docker-credential-wincred.exe`,
 * `docker-credential-desktop.exe`), named so: spawn without a shell finds nothing else there.
 */
export function helperProgram(name: string, platform: NodeJS.Platform = process.platform): string {
  return `docker-credential-${name}${platform === 'win32' ? '.exe' : ''}`;
}

/** Runs `docker-credential-NAME get`, the protocol docker uses for credsStore and credHelpers. */
export async function runCredentialHelper(
  name: string,
  serverUrl: string,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): Promise<Credentials | undefined> {
  const program = helperProgram(name);
  const result = await new Promise<{
    code: number | null;
    stdout: string;
    stderr: string;
    error?: Error;
  }>((resolve) => {
    const child = spawn(program, ['get'], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: HELPER_TIMEOUT_MS,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (error) => resolve({ code: null, stdout, stderr, error }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(serverUrl);
  });
  if (result.error) {
    logger.warning(
      `credential helper ${program} could not run (${(result.error as NodeJS.ErrnoException).code ?? result.error.message}); continuing without it`,
    );
    return undefined;
  }
  if (result.code !== 0) {
    const said = (result.stdout + result.stderr).trim().split('\n')[0] ?? '';
    if (!/not found/i.test(said))
      logger.warning(`credential helper ${program} failed for ${serverUrl}: ${said.slice(0, 200)}`);
    return undefined;
  }
  try {
    const parsed = JSON.parse(result.stdout) as { Username?: string; Secret?: string };
    if (!parsed.Secret) return undefined;
    logger.secret(parsed.Secret);
    const source = `credential helper ${program}`;
    if (parsed.Username === '<token>') return { identityToken: parsed.Secret, source };
    return { username: parsed.Username, password: parsed.Secret, source };
  } catch {
    logger.warning(`credential helper ${program} answered something other than JSON`);
    return undefined;
  }
}

export function dockerConfigPath(env: NodeJS.ProcessEnv, home: string): string {
  return join(env.DOCKER_CONFIG || join(home, '.docker'), 'config.json');
}

/**
 * Where podman (and skopeo, buildah) keep credentials, first found first: REGISTRY_AUTH_FILE; on
 * Linux the runtime folder (`$XDG_RUNTIME_DIR/containers/auth.json`); everywhere the config folder
 * (`$XDG_CONFIG_HOME` or `~/.config`, `containers/auth.json`), which is where macOS and Windows keep
 * it, and where Linux falls back to.
 */
export function podmanAuthPaths(
  env: NodeJS.ProcessEnv,
  home: string,
  pathJoin: (...parts: string[]) => string = join,
): string[] {
  if (env.REGISTRY_AUTH_FILE) return [env.REGISTRY_AUTH_FILE];
  const paths: string[] = [];
  if (env.XDG_RUNTIME_DIR) paths.push(pathJoin(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  paths.push(pathJoin(env.XDG_CONFIG_HOME || pathJoin(home, '.config'), 'containers', 'auth.json'));
  return paths;
}

/**
 * Finds stored credentials for a registry the way docker and podman do: docker's config.json
 * (credHelpers, then credsStore, then auths), then podman's auth.json. Undefined means anonymous.
 */
export async function lookupCredentials(
  registry: string,
  repository: string,
  sources: CredentialSources,
): Promise<Credentials | undefined> {
  const { env, logger } = sources;
  // HOME first (a runner or a test may set it); Windows has USERPROFILE, which homedir() reads.
  const home = sources.home ?? env.HOME ?? homedir();
  const dockerPath = dockerConfigPath(env, home);
  const docker = await readConfig(dockerPath);
  if (docker) {
    const serverUrl = registry === DOCKER_HUB ? DOCKER_HUB_KEY : registry;
    const helper = findEntry(docker.credHelpers, registry, repository) ?? docker.credsStore;
    if (helper) {
      const found = await runCredentialHelper(helper, serverUrl, env, logger);
      if (found) return found;
    }
    const entry = findEntry(docker.auths, registry, repository);
    const found = entry && fromEntry(entry, dockerPath, logger);
    if (found) return found;
  }
  for (const podmanPath of podmanAuthPaths(env, home)) {
    const podman = await readConfig(podmanPath);
    if (!podman) continue;
    const entry = findEntry(podman.auths, registry, repository);
    const found = entry && fromEntry(entry, podmanPath, logger);
    if (found) return found;
    // The first file that exists is podman's, as podman reads it: later ones are not consulted.
    break;
  }
  return undefined;
}
