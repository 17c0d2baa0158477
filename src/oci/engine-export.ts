import { join } from 'node:path';
import { getExecOutput } from '@actions/exec';
import { InputError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';

export type Engine = 'auto' | 'docker' | 'podman';

async function answers(command: string, args: string[]): Promise<boolean> {
  try {
    const { exitCode } = await getExecOutput(command, args, {
      silent: true,
      ignoreReturnCode: true,
    });
    return exitCode === 0;
  } catch {
    // Not installed: exec throws when the program cannot be found.
    return false;
  }
}

/** `auto` means docker when its daemon answers `docker info`, else podman. */
export async function resolveEngine(engine: Engine, image: string): Promise<'docker' | 'podman'> {
  if (engine !== 'auto') return engine;
  if (await answers('docker', ['info'])) return 'docker';
  if (await answers('podman', ['--version'])) return 'podman';
  throw new InputError(
    `image ${image}: neither docker (no daemon answers docker info) nor podman is available to export it`,
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
): Promise<string> {
  const chosen = await resolveEngine(engine, image);
  const archive = join(dir, 'image.tar');
  const args =
    chosen === 'docker'
      ? ['save', '-o', archive, image]
      : ['save', '--format', 'oci-archive', '-o', archive, image];
  logger.info(`exporting ${image} with ${chosen} ${args.join(' ')}`);
  let result;
  try {
    result = await getExecOutput(chosen, args, { silent: true, ignoreReturnCode: true });
  } catch (error) {
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
