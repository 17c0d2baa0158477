import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const CLI = resolve(ROOT, 'dist', 'cli.js');
/**
 * The node that runs the action and the CLI in tests: this one, or the action's own runtime when
 * OCI_PUSH_TEST_NODE names it (.ci/run runs the suite again on the pinned Node 24).
 */
export const NODE = process.env.OCI_PUSH_TEST_NODE || process.execPath;

/** What a stand-in for left-out code throws (scripts/bundle-config.mjs). */
export const LEFT_OUT_REACHED = /is not part of this build, yet was called/;

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, capturing its output; never throws on a non-zero exit. */
export function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd ?? ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => {
      // The bundle leaves out code the tool never calls (scripts/bundle-config.mjs); a stand-in
      // that was called says so, and no test may pass over that.
      if (LEFT_OUT_REACHED.test(stdout + stderr))
        fail(new Error(`${command} reached code left out of the bundle:\n${stdout}${stderr}`));
      else done({ code, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** The CLI as users run it: the bundled dist/cli.js. */
export function runCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<RunResult> {
  return run(NODE, [CLI, ...args], options);
}

/** Pulls an image back with skopeo into an OCI layout; the reference client's view of what we pushed. */
export async function skopeoPull(ref: string, dest: string, creds?: string): Promise<RunResult> {
  const args = ['copy', '--all', '--src-tls-verify=false', '--quiet'];
  if (creds) args.push('--src-creds', creds);
  args.push(`docker://${ref}`, `oci:${dest}`);
  return run('skopeo', args);
}
