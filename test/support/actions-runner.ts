import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { NODE, ROOT, type RunResult, run } from './run.js';

interface ActionYaml {
  runs: { using: string; main: string };
  inputs: Record<string, { default?: string; required?: boolean }>;
  outputs: Record<string, unknown>;
}

export async function readActionYaml(): Promise<ActionYaml> {
  return parse(await readFile(join(ROOT, 'action.yml'), 'utf8')) as ActionYaml;
}

export interface ActionRun extends RunResult {
  outputs: Record<string, string>;
  summary: string;
}

/** Reads a GITHUB_OUTPUT file: `name<<DELIM`, the value lines, `DELIM`. */
export function parseOutputFile(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<=]+)<<(.+)$/.exec(lines[i] ?? '');
    if (!m) continue;
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i] ?? '');
    outputs[m[1] as string] = value.join('\n');
  }
  return outputs;
}

/** The runner's interface to the action, prepared: its env and the files it writes to. */
export interface ActionInvocation {
  main: string;
  env: NodeJS.ProcessEnv;
  outputFile: string;
  summaryFile: string;
}

/**
 * Prepares the action as the runner starts it: every input as INPUT_<NAME> (upper-cased, spaces to
 * underscores, hyphens kept) with action.yml's defaults filled in, and empty GITHUB_OUTPUT and
 * GITHUB_STEP_SUMMARY files.
 */
export async function prepareAction(
  dir: string,
  inputs: Record<string, string>,
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<ActionInvocation> {
  const action = await readActionYaml();
  const outputFile = join(dir, `output-${Date.now()}-${Math.random()}`);
  const summaryFile = join(dir, `summary-${Date.now()}-${Math.random()}`);
  await writeFile(outputFile, '');
  await writeFile(summaryFile, '');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: extraEnv.HOME ?? dir,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    RUNNER_TEMP: dir,
    ...extraEnv,
  };
  for (const [name, spec] of Object.entries(action.inputs)) {
    const value = inputs[name] ?? spec.default;
    if (value !== undefined) env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value;
  }
  return { main: join(ROOT, action.runs.main), env, outputFile, summaryFile };
}

/** Runs the action's entry the way the runner does (`node <main>` from action.yml) to its end. */
export async function runAction(
  dir: string,
  inputs: Record<string, string>,
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<ActionRun> {
  const { main, env, outputFile, summaryFile } = await prepareAction(dir, inputs, extraEnv);
  const result = await run(NODE, [main], { env });
  return {
    ...result,
    outputs: parseOutputFile(await readFile(outputFile, 'utf8')),
    summary: await readFile(summaryFile, 'utf8'),
  };
}
