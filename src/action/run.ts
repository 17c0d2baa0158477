import * as core from '@actions/core';
import { Input } from '../config/inputs.js';
import { type PushSettings, readPushSettings } from '../config/settings.js';
import type { Finding } from '../diagnose/finding.js';
import { openEarly } from '../push/open-early.js';
import type { PushResult } from '../push/result.js';
import { checkedOutputs } from '../report/output-format.js';
import { outputsOf } from '../report/outputs.js';
import { proxySecrets } from '../registry/proxy.js';
import { failureCauses, observedWarnings, recoveries } from '../report/failure-model.js';
import { shortDigest } from '../oci/digest.js';
import { renderSummary } from '../report/summary.js';
import { exitAfterGrace, signalExitCode } from '../util/cancel.js';
import { errorMessage } from '../util/errors.js';
import { actionsLogger } from './logger.js';
import type { SecretMasker } from '../report/secrets.js';
import { capped, oneLine } from '../util/text.js';

async function writeSummary(
  result: PushResult,
  findings: Finding[] | undefined,
  masker: SecretMasker,
): Promise<void> {
  // Outside a runner there is no summary file; that is not an error.
  if (!process.env.GITHUB_STEP_SUMMARY) return;
  await core.summary.addRaw(masker.mask(renderSummary(result, { findings })), true).write();
}

/**
 * GitHub shows 10 error and 10 warning annotations a step, and a page of them is as hard to read as
 * none: at most 10 in all, the causes first, then the failure, then what was worked around.
 */
const MAX_ANNOTATIONS = 10;
const MAX_CAUSE_ANNOTATIONS = 6;
/** An annotation is a line in a list; past this it is a wall. */
const ANNOTATION_CHARS = 990;

interface Annotation {
  kind: 'error' | 'warning';
  title: string;
  text: string;
}

/** Every annotation of the run, in the order they matter, before any is cut. */
function annotationsOf(result: PushResult | undefined, failure: string | undefined): Annotation[] {
  const out: Annotation[] = [];
  if (result && !result.ok)
    for (const { cause, blobs, answer } of failureCauses(result).slice(0, MAX_CAUSE_ANNOTATIONS)) {
      const shown = blobs.slice(0, 3).map(shortDigest).join(', ');
      const more = blobs.length > 3 ? ` and ${blobs.length - 3} more` : '';
      const hit = blobs.length
        ? `${blobs.length} blob${blobs.length === 1 ? '' : 's'} (${shown}${more})`
        : `stopped at ${result.phase ?? 'the push'}`;
      out.push({
        kind: 'error',
        title: `oci-push: ${cause.id}`,
        text: `${hit}${answer ? `: ${answer}` : ''}. ${cause.title} Fix: ${cause.fix}`,
      });
    }
  if (failure !== undefined) out.push({ kind: 'error', title: 'oci-push', text: oneLine(failure) });
  for (const w of result ? observedWarnings(result) : [])
    out.push({
      kind: 'warning',
      title: 'oci-push',
      text: `${w.registry}: ${w.cause.title} Fix: ${w.cause.fix}`,
    });
  for (const r of result ? recoveries(result) : [])
    out.push({
      kind: 'warning',
      title: `oci-push: recovered (${r.kind})`,
      text: `${r.title} Fix: ${r.fix}`,
    });
  return out;
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
  // A cancelled job gets SIGINT, then SIGTERM: stop the transfers, then still write the outputs,
  // the summary and the temp-file cleanup before exiting with the signal's code.
  const cancel = new AbortController();
  let received: string | undefined;
  const onSignal = (signal: string): void => {
    if (received) return;
    received = signal;
    core.info(`${signal} received: cancelling the push`);
    cancel.abort();
    exitAfterGrace(signal, (line) => core.error(line));
  };
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    await runAction(cancel.signal);
  } finally {
    finished = true;
    process.off('beforeExit', stalled);
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    if (received) process.exitCode = signalExitCode(received);
  }
}

/** The refs the log's last lines name; a push to hundreds of repositories counts the rest. */
const LOGGED_REFS = 5;

async function runAction(signal: AbortSignal): Promise<void> {
  let settings: PushSettings | undefined;
  let result: PushResult | undefined;
  let findings: Finding[] | undefined;
  let failure: string | undefined;
  const logger = actionsLogger();
  try {
    for (const secret of [core.getInput(Input.password), core.getInput(Input.githubToken)])
      if (secret) logger.secret(secret);
    // A proxy password in HTTPS_PROXY is a secret too, in every form it can be written.
    for (const secret of proxySecrets(process.env)) logger.secret(secret);
    settings = await readPushSettings((name) => core.getInput(name));
    const connections = openEarly(settings, process.env);
    // Loaded after the connections are opening: their handshakes overlap loading the HTTP stack.
    const { executePush } = await import('../push/execute.js');
    result = await executePush(settings, { logger, signal, connections }).finally(() =>
      connections.destroy(),
    );
    if (!result.ok) {
      failure = errorMessage(result.error);
      const { diagnoseAfterFailure } = await import('../diagnose/after-failure.js');
      findings = await diagnoseAfterFailure(settings, result, { logger, signal }).catch(
        (error: unknown) => {
          core.warning(logger.masker.mask(`the diagnosis could not run: ${errorMessage(error)}`));
          return undefined;
        },
      );
    }
  } catch (error) {
    failure = errorMessage(error);
    logger.debug(error instanceof Error ? (error.stack ?? failure) : failure);
    // Bad input still gets a summary that says what was wrong.
    const { failedBeforePush } = await import('../push/execute.js');
    result ??= failedBeforePush(settings?.tags ?? [], error);
  }
  const outputs = checkedOutputs(outputsOf(result));
  for (const [name, value] of Object.entries(outputs.values))
    core.setOutput(name, logger.masker.mask(value));
  for (const name of outputs.refused)
    core.warning(`output ${name} was left empty: its value did not have the documented format`);
  if (result && settings?.summary !== false) {
    try {
      await writeSummary(result, findings, logger.masker);
    } catch (error) {
      core.warning(logger.masker.mask(`could not write the job summary: ${errorMessage(error)}`));
    }
  }
  const annotations = annotationsOf(result, failure).slice(0, MAX_ANNOTATIONS);
  for (const a of annotations) {
    const text = logger.masker.mask(capped(a.text, ANNOTATION_CHARS));
    // The failure itself goes through setFailed, which also sets the exit code.
    if (a.kind === 'error' && a.title === 'oci-push') core.setFailed(text);
    else if (a.kind === 'error') core.error(text, { title: a.title });
    else core.warning(text, { title: a.title });
  }
  // The log ends with what was pushed, as the CLI's stdout does: the digest, then each ref.
  if (outputs.values.digest) {
    core.info(`digest: ${outputs.values.digest}`);
    const refs = JSON.parse(outputs.values.refs) as string[];
    for (const ref of refs.slice(0, LOGGED_REFS)) core.info(`pushed: ${ref}`);
    if (refs.length > LOGGED_REFS)
      core.info(`pushed: ${refs.length - LOGGED_REFS} more (the refs output lists them all)`);
  }
  // Kept even if the annotations were cut: a failed run must exit 1.
  if (failure !== undefined) process.exitCode = 1;
}
