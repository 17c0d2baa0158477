import * as core from '@actions/core';
import { errorMessage } from './errors.js';
import { Input, type Inputs, parseInputs } from './inputs.js';
import type { Logger } from './logger.js';
import { executePush } from './push/execute.js';
import type { PushResult } from './push/result.js';
import { outputsOf } from './report/outputs.js';
import { renderSummary } from './report/summary.js';

function actionsLogger(): Logger {
  return {
    debug: (m) => core.debug(m),
    info: (m) => core.info(m),
    warning: (m) => core.warning(m),
    secret: (v) => core.setSecret(v),
    group: (name, fn) => core.group(name, fn),
  };
}

async function writeSummary(result: PushResult): Promise<void> {
  // Outside a runner there is no summary file; that is not an error.
  if (!process.env.GITHUB_STEP_SUMMARY) return;
  await core.summary.addRaw(renderSummary(result), true).write();
}

/** The action's entry: the one place that calls core.setFailed. */
export async function run(): Promise<void> {
  let inputs: Inputs | undefined;
  let result: PushResult | undefined;
  let failure: string | undefined;
  try {
    const password = core.getInput(Input.password);
    if (password) core.setSecret(password);
    inputs = parseInputs((name) => core.getInput(name));
    result = await executePush(inputs, { logger: actionsLogger() });
    if (!result.ok) failure = errorMessage(result.error);
  } catch (error) {
    failure = errorMessage(error);
    core.debug(error instanceof Error ? (error.stack ?? failure) : failure);
  }
  for (const [name, value] of Object.entries(outputsOf(result))) core.setOutput(name, value);
  if (result && inputs?.summary !== false) {
    try {
      await writeSummary(result);
    } catch (error) {
      core.warning(`could not write the job summary: ${errorMessage(error)}`);
    }
  }
  if (result && !result.ok) {
    for (const target of result.targets) {
      for (const blob of target.blobs.values()) {
        if (blob.state === 'failed') {
          core.error(`${target.registry}/${target.repository}: ${errorMessage(blob.error)}`, {
            title: blob.digest,
          });
        }
      }
    }
  }
  if (failure !== undefined) core.setFailed(failure);
}
