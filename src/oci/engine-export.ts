import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CancelledError } from '../util/cancel.js';
import { InputError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';

export type Engine = 'auto' | 'docker' | 'podman';

interface Ran {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** The last 64 KiB an engine says are enough to quote its error; more is never kept. */
const KEEP = 64 << 10;

/**
 * Runs a program to its end, its output kept (bounded). A cancelled run kills it (SIGTERM) and
 * rejects at once with CancelledError; a program that cannot start rejects with its error.
 */
function runProgram(command: string, args: string[], signal?: AbortSignal): Promise<Ran> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new CancelledError(`cancelled before ${command} ran`));
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-KEEP)));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-KEEP)));
    const onAbort = (): void => {
      child.kill('SIGTERM');
      reject(new CancelledError(`cancelled while exporting with ${command}`));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error) => {
      signal?.removeEventListener('abort', onAbort);
      reject(error);
    });
    child.on('close', (code) => {
      signal?.removeEventListener('abort', onAbort);
      resolve({ exitCode: code ?? 1, stdout, stderr });
    });
  });
}

async function answers(command: string, args: string[], signal?: AbortSignal): Promise<boolean> {
  try {
    const { exitCode } = await runProgram(command, args, signal);
    return exitCode === 0;
  } catch (error) {
    if (error instanceof CancelledError) throw error;
    // Not installed: spawn fails when the program cannot be found.
    return false;
  }
}

/** `auto` means docker when its daemon answers `docker info`, else podman. */
export async function resolveEngine(
  engine: Engine,
  image: string,
  signal?: AbortSignal,
): Promise<'docker' | 'podman'> {
  if (engine !== 'auto') return engine;
  if (await answers('docker', ['info'], signal)) return 'docker';
  if (await answers('podman', ['--version'], signal)) return 'podman';
  throw new InputError(
    `image ${image}: neither docker (no daemon answers docker info) nor podman is available to export it${process.platform === 'darwin' ? ' (macOS runners have no docker engine: build to an OCI layout with buildx and use layout)' : ''}`,
  );
}

/**
 * Exports a local image from docker (`docker save`) or podman (`podman save --format oci-archive`)
 * into `dir`, and returns the archive's path.
 */
export async function exportImage(
  image: string,
  engine: Engine,
  dir: string,
  logger: Logger,
  signal?: AbortSignal,
): Promise<string> {
  const chosen = await resolveEngine(engine, image, signal);
  const archive = join(dir, 'image.tar');
  const args =
    chosen === 'docker'
      ? ['save', '-o', archive, image]
      : ['save', '--format', 'oci-archive', '-o', archive, image];
  logger.info(`exporting ${image} with ${chosen} ${args.join(' ')}`);
  let result;
  try {
    result = await runProgram(chosen, args, signal);
  } catch (error) {
    if (error instanceof CancelledError) throw error;
    throw new InputError(`image ${image}: ${chosen} could not run (${(error as Error).message})`);
  }
  if (result.exitCode !== 0) {
    const said =
      (result.stderr || result.stdout).trim().split('\n').filter(Boolean).pop() ??
      `exit code ${result.exitCode}`;
    const missing = /no such image|not known|does not exist|not found|unknown/i.test(said);
    throw new InputError(
      `image ${image}: ${missing ? `not found in ${chosen}` : `${chosen} save failed`} (${said})`,
    );
  }
  return archive;
}
