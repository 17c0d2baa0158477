import * as core from '@actions/core';
import { errorMessage } from './errors.js';
import { Input, type Inputs, parseInputs } from './inputs.js';
import type { Logger } from './logger.js';
import { executePush } from './push/execute.js';
import type { PushResult } from './push/result.js';
import { blobCause } from './report/causes.js';
import { outputsOf } from './report/outputs.js';
import { type Finding, observedWarnings, renderSummary } from './report/summary.js';

function actionsLogger(): Logger {
  return {
    debug: (m) => core.debug(m),
    info: (m) => core.info(m),
    warning: (m) => core.warning(m),
    secret: (v) => core.setSecret(v),
    group: (name, fn) => core.group(name, fn),
  };
}

async function writeSummary(result: PushResult, findings?: Finding[]): Promise<void> {
  // Outside a runner there is no summary file; that is not an error.
  if (!process.env.GITHUB_STEP_SUMMARY) return;
  await core.summary.addRaw(renderSummary(result, { findings }), true).write();
}

/** One annotation per failing blob, titled with its digest, saying why and what to change. */
function annotateFailures(result: PushResult): void {
  for (const target of result.targets) {
    for (const blob of target.blobs.values()) {
      if (blob.state !== 'failed') continue;
      const cause = blobCause(blob, target);
      const last = blob.errors[blob.errors.length - 1];
      const answered = last
        ? last.status !== undefined
          ? `HTTP ${last.status}`
          : (last.networkCode ?? 'network error')
        : 'no answer';
      core.error(
        `${target.registry}/${target.repository}: ${answered}. ${cause.title} Fix: ${cause.fix}`,
        { title: blob.digest },
      );
    }
  }
}

/** The action's entry: the one place that calls core.setFailed. */
export async function run(): Promise<void> {
  // Should some operation never settle (a stream that neither ends nor fails), Node would exit with
  // code 0 once the event loop empties: make that a loud failure, never a silent success.
  let finished = false;
  const stalled = (): void => {
    if (!finished)
      core.setFailed(
        'oci-push stopped before finishing: an operation never completed (a bug; please report it)',
      );
  };
  process.once('beforeExit', stalled);
  try {
    await runAction();
  } finally {
    finished = true;
    process.off('beforeExit', stalled);
  }
}

async function runAction(): Promise<void> {
  let inputs: Inputs | undefined;
  let result: PushResult | undefined;
  let findings: Finding[] | undefined;
  let failure: string | undefined;
  const logger = actionsLogger();
  try {
    for (const secret of [core.getInput(Input.password), core.getInput(Input.githubToken)])
      if (secret) core.setSecret(secret);
    inputs = parseInputs((name) => core.getInput(name));
    result = await executePush(inputs, { logger });
    if (!result.ok) {
      failure = errorMessage(result.error);
      const { diagnoseAfterFailure } = await import('./diagnose/after-failure.js');
      findings = await diagnoseAfterFailure(inputs, result, { logger }).catch((error: unknown) => {
        core.warning(`the diagnosis could not run: ${errorMessage(error)}`);
        return undefined;
      });
    }
  } catch (error) {
    failure = errorMessage(error);
    core.debug(error instanceof Error ? (error.stack ?? failure) : failure);
  }
  for (const [name, value] of Object.entries(outputsOf(result))) core.setOutput(name, value);
  if (result && inputs?.summary !== false) {
    try {
      await writeSummary(result, findings);
    } catch (error) {
      core.warning(`could not write the job summary: ${errorMessage(error)}`);
    }
  }
  if (result && !result.ok) annotateFailures(result);
  for (const w of result ? observedWarnings(result) : [])
    core.warning(`${w.registry}: ${w.cause.title} Fix: ${w.cause.fix}`, { title: 'oci-push' });
  if (failure !== undefined) core.setFailed(failure);
}
