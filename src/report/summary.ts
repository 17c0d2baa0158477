import type { Finding } from '../diagnose/finding.js';
import { shortDigest } from '../oci/digest.js';
import type { ImageNode, ManifestNode } from '../oci/image.js';
import { manifestsBottomUp } from '../oci/image.js';
import { formatPlatform } from '../oci/types.js';
import type { BlobOutcome, DryRun, PushResult, TargetResult } from '../push/result.js';
import { RegistryError } from '../registry/errors.js';
import { formatDuration, formatSize } from '../util/format.js';
import { type Cause, type Shell, causeOf, workaroundOf } from './causes.js';
import {
  type CauseGroup,
  type FailedBlob,
  failureCauses,
  observedWarnings,
  recoveries,
} from './failure-model.js';

import { code, details, escapeMarkdown, table } from './markdown.js';

export interface SummaryExtras {
  findings?: Finding[];
  /** Whose syntax the fixes are in: the action's inputs (the default) or the CLI's flags. */
  shell?: Shell;
}

function how(outcome: BlobOutcome): string {
  switch (outcome.how) {
    case 'present':
      return 'already present';
    case 'mounted':
      return outcome.mountedFrom ? `mounted from ${code(outcome.mountedFrom)}` : 'mounted';
    case 'monolithic':
      return 'monolithic';
    case 'chunked':
      return `chunked, ${outcome.chunks} chunk${outcome.chunks === 1 ? '' : 's'}`;
    default:
      return '—';
  }
}

function stateCell(outcome: BlobOutcome | undefined): string {
  if (!outcome) return 'not attempted';
  if (outcome.state === 'failed') return '❌ **failed**';
  return outcome.state === 'pushed' ? '✅ pushed' : '✅ in place';
}

function manifestName(node: ManifestNode, isIndex: boolean): string {
  const platform = formatPlatform(node.descriptor.platform);
  if (platform && platform !== 'unknown/unknown') return platform;
  if (node.descriptor.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest')
    return 'attestation';
  return isIndex ? 'manifest' : 'image';
}

function manifests(root: ImageNode): ManifestNode[] {
  return manifestsBottomUp(root).filter((n): n is ManifestNode => n.kind === 'manifest');
}

function role(index: number): string {
  return index === 0 ? 'config' : `layer ${index}`;
}

/** Rows of one manifest's blob table; the rest are counted in one row. */
const TABLE_ROWS = 25;

/** The state first, so GitHub's narrow summary column never cuts it off. */
function blobRows(node: ManifestNode, target: TargetResult): string[][] {
  const rows = node.blobs.slice(0, TABLE_ROWS).map((blob, i) => {
    const outcome = target.blobs.get(blob.digest);
    return [
      stateCell(outcome),
      role(i),
      code(shortDigest(blob.digest)),
      formatSize(blob.size),
      outcome ? how(outcome) : '—',
      outcome ? formatDuration(outcome.durationMs) : '—',
    ];
  });
  const rest = node.blobs.slice(TABLE_ROWS);
  if (rest.length) {
    const failed = rest.filter((b) => target.blobs.get(b.digest)?.state === 'failed').length;
    rows.push([
      failed ? `${failed} ❌` : '',
      `${plural(rest.length, 'more layer')}`,
      '',
      formatSize(rest.reduce((n, b) => n + b.size, 0)),
      '',
      '',
    ]);
  }
  return rows;
}

/** What the registry last said about a blob: status, error codes and messages, and who said it. */
export function lastAnswer(errors: readonly RegistryError[], fallback?: Error): string {
  const last = errors[errors.length - 1];
  if (!last) return fallback ? escapeMarkdown(fallback.message) : 'no answer recorded';
  const parts: string[] = [];
  parts.push(
    last.status !== undefined
      ? `HTTP ${last.status}`
      : last.refused
        ? `an answer oci-push could not accept (${code(last.refused)}): ${escapeMarkdown(last.message)}`
        : `no response (${code(last.answer)})`,
  );
  for (const c of last.codes)
    parts.push(`${code(c.code)}${c.message ? ` ${escapeMarkdown(c.message)}` : ''}`);
  if (!last.codes.length && last.bodySnippet && /<html|<!doctype/i.test(last.bodySnippet))
    parts.push('an HTML error page');
  if (last.headers.server) parts.push(`from server ${code(last.headers.server)}`);
  const limit = last.headers['ratelimit-limit'];
  if (limit)
    parts.push(
      `rate limit ${code(limit)}, remaining ${code(last.headers['ratelimit-remaining'] ?? '?')}${last.headers['docker-ratelimit-source'] ? ` for ${code(last.headers['docker-ratelimit-source'])}` : ''}`,
    );
  parts.push(`to ${code(`${last.method} ${last.url}`)}`);
  return parts.join(', ');
}

/**
 * One "Tried" line without what the section already says: the blob's digest and the long session
 * URL become "this blob" and the step the URL was for.
 */
export function triedLine(line: string, digest: string): string {
  // URLs first: a digest replaced inside one would leave half a URL ("the blob blob").
  return line
    .replace(/(?:https?:\/\/)\S*\/blobs\/uploads\/\S*/g, 'the upload session')
    .replace(/(?:https?:\/\/)\S*\/blobs\/\S*/g, 'the blob')
    .replace(/(?:https?:\/\/)\S*\/manifests\/(\S+)/g, 'manifest $1')
    .split(`blob ${digest}`)
    .join('this blob')
    .split(digest)
    .join('this blob');
}

/** Cause texts are this project's own constant markdown, so they are not escaped. */
function renderCause(cause: Cause): string[] {
  return [`- **Probable cause:** ${cause.title}`, `- **Fix:** ${cause.fix}`];
}

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** The causes first, grouped: what a person needs to act on, before any detail. */
function causesSection(result: PushResult, groups: CauseGroup[]): string[] {
  if (!groups.length) return [];
  const out = ['### Why it failed', ''];
  for (const g of groups) {
    const hit = g.blobs.length
      ? `${plural(g.blobs.length, 'blob')}${g.answer ? `: ${escapeMarkdown(g.answer)}` : ''}`
      : `Stopped at ${escapeMarkdown(result.phase ?? 'the push')}${g.answer ? `: ${escapeMarkdown(g.answer)}` : ''}`;
    // With several causes, each is named by its id, as the failed blobs below are grouped.
    const id = groups.length > 1 ? ` ${code(g.cause.id)}` : '';
    out.push(`- **${hit}**${id} — ${g.cause.title}`, `  **Fix:** ${g.cause.fix}`);
  }
  out.push('');
  return out;
}

/** Each cause shows this many blobs in detail; the rest are rows of one collapsed table. */
const DETAILED_PER_CAUSE = 3;
/** And at most this many in all, whatever the number of causes. */
const DETAILED_IN_ALL = 12;
/** Rows of the collapsed table; the `failed-blobs` output has every digest. */
const COLLAPSED_ROWS = 200;

/** Where a blob sits in the image: `linux/amd64 manifest sha256:…, layer 2 of 3`. */
function whereInImage(result: PushResult, digest: string): string[] {
  const image = result.image;
  if (!image) return [];
  const isIndex = image.root.kind === 'index';
  return manifests(image.root).flatMap((node) =>
    node.blobs
      .map((b, i) =>
        b.digest === digest
          ? `${escapeMarkdown(manifestName(node, isIndex))} manifest ${code(shortDigest(node.descriptor.digest))}, ${role(i)} of ${node.blobs.length - 1}`
          : undefined,
      )
      .filter((x): x is string => x !== undefined),
  );
}

/** Lines in order, each run of the same line once with how many times it came. */
function collapsed(lines: string[]): { line: string; times: number }[] {
  const out: { line: string; times: number }[] = [];
  for (const line of lines) {
    const last = out[out.length - 1];
    if (last?.line === line) last.times++;
    else out.push({ line, times: 1 });
  }
  return out;
}

function blobDetail(result: PushResult, failed: FailedBlob): string[] {
  const { blob } = failed;
  const out: string[] = [`#### ❌ ${code(blob.digest)}`, ''];
  out.push(
    `- **Where:** ${code(`${failed.registry}/${failed.repository}`)}: ${whereInImage(result, blob.digest).join('; ') || 'image'}`,
  );
  out.push(`- **Size:** ${formatSize(blob.size)} (${escapeMarkdown(blob.mediaType)})`);
  out.push(`- **Registry answered:** ${lastAnswer(blob.errors, blob.error)}`);
  if (blob.tried.length) {
    const runs = collapsed(blob.tried.map((line) => triedLine(line, blob.digest)));
    const sessions = plural(blob.attempts, 'upload session');
    if (runs.length === 1 && runs[0]!.times === 1) {
      out.push(`- **Tried** (${sessions}): ${escapeMarkdown(runs[0]!.line)}`, '');
      return out;
    }
    out.push(`- **Tried** (${sessions}):`);
    for (const { line, times } of runs.slice(-8))
      out.push(`  - ${escapeMarkdown(line)}${times > 1 ? ` (×${times})` : ''}`);
    if (runs.length > 8) out.push(`  - … and ${runs.length - 8} earlier`);
  }
  // The cause and its fix are said once, for its group, under "Why it failed".
  out.push('');
  return out;
}

/**
 * The failed blobs by cause: a few in detail, which is what a person reads to act, and the rest as
 * short rows in one collapsed table, so a thousand failures still make a page that loads.
 */
function failedBlobsSection(result: PushResult, groups: CauseGroup[]): string[] {
  const failing = groups.filter((g) => g.failures.length);
  if (!failing.length) return [];
  const out = ['### Failed blobs', ''];
  let detailed = 0;
  const rest: { failed: FailedBlob; cause: Cause }[] = [];
  for (const group of failing) {
    if (failing.length > 1)
      out.push(`**${plural(group.failures.length, 'blob')}, ${code(group.cause.id)}:**`, '');
    group.failures.forEach((failed, i) => {
      if (i < DETAILED_PER_CAUSE && detailed < DETAILED_IN_ALL) {
        detailed++;
        out.push(...blobDetail(result, failed));
      } else rest.push({ failed, cause: group.cause });
    });
  }
  if (rest.length) {
    const rows = rest
      .slice(0, COLLAPSED_ROWS)
      .map(({ failed, cause }) => [
        code(shortDigest(failed.blob.digest)),
        code(`${failed.registry}/${failed.repository}`),
        formatSize(failed.blob.size),
        code(cause.id),
      ]);
    const more =
      rest.length > COLLAPSED_ROWS ? [`… and ${rest.length - COLLAPSED_ROWS} more.`, ''] : [];
    out.push(
      ...details(
        `${plural(rest.length, 'more failed blob')} (the failed-blobs output lists every digest)`,
        [table(['blob', 'where', 'size', 'cause'], rows), '', ...more],
      ),
    );
  }
  return out;
}

/** The refs as a person pulls them: by tag, or by digest for a push by digest. */
function pullRef(result: PushResult): string | undefined {
  const first = result.refs[0];
  if (!first) return undefined;
  return result.byDigest || !/:[^/@]+@/.test(first)
    ? first
    : first.replace(/@sha(256|512):.*$/, '');
}

/** What was made: the platforms of an index or an image, and how to pull it. */
function madeSection(result: PushResult): string[] {
  const out: string[] = [];
  const platforms = result.platforms ?? [];
  const isIndex = result.image?.root.kind === 'index' || result.source?.startsWith('index from');
  if (platforms.length)
    out.push(
      `**${isIndex ? `Index of ${plural(platforms.length, 'platform')}` : 'Platform'}:** ${platforms.map((p) => code(p)).join(', ')}  `,
    );
  if (result.byDigest && result.refs.length)
    out.push(`**Pushed by digest:** ${result.refs.map((r) => code(r)).join(', ')}  `);
  if (result.referrers.length)
    out.push(
      `**Referrers:** the registry has no referrers API, so the referrers tag ${result.referrers.map((r) => code(r)).join(', ')} lists this artifact for its subject.  `,
    );
  const pull = pullRef(result);
  if (pull) out.push(`**Pull it with:** ${code(`docker pull ${pull}`)}`);
  return out.length ? [...out, ''] : [];
}

/** Up to this many targets are listed one a line; more are grouped by outcome, the names collapsed. */
const LISTED_TARGETS = 10;
/** Up to this many repositories get a table of their blobs; the rest are grouped by outcome. */
const TABLED_TARGETS = 3;

function targetsSection(result: PushResult): string[] {
  const out = ['**Targets:**', ''];
  const pushed = new Set(result.refs.map((r) => r.replace(/@sha(256|512):.*$/, '')));
  const what = result.byDigest ? 'pushed by digest' : 'tagged';
  const done = (ref: string): boolean => pushed.has(ref.replace(/@sha(256|512):.*$/, ''));
  const elsewhere = new Map(
    result.elsewhere.map((r) => [r.replace(/@[^@]*$/, ''), r.replace(/^.*@/, '')]),
  );
  const note = (ref: string): string => {
    if (done(ref)) return '';
    const served = elsewhere.get(ref.replace(/@sha(256|512):.*$/, ''));
    return served
      ? ` (set, but the registry serves it as ${code(served)}, not the pushed manifest)`
      : ` (not ${what})`;
  };
  if (result.targetRefs.length <= LISTED_TARGETS) {
    for (const ref of result.targetRefs)
      out.push(`- ${done(ref) ? '✅' : '⬜'} ${code(ref)}${note(ref)}`);
    return [...out, ''];
  }
  for (const ok of [true, false]) {
    const refs = result.targetRefs.filter((ref) => done(ref) === ok);
    if (!refs.length) continue;
    out.push(
      `- ${ok ? '✅' : '⬜'} ${refs.length} ${ok ? what : `not ${what}`}: ${refs
        .slice(0, 3)
        .map((r) => code(r))
        .join(', ')}${refs.length > 3 ? ', …' : ''}`,
    );
  }
  out.push(
    '',
    ...details(`All ${result.targetRefs.length} targets`, [
      result.targetRefs.map((r) => code(r)).join(' '),
    ]),
  );
  return out;
}

/** Other repositories this push read from (pull only), as `host/repository`. */
function repositoriesRead(result: PushResult): string[] {
  const out = new Set<string>();
  for (const target of result.targets) {
    const own = new Set(result.targets.map((t) => `${t.registry}/${t.repository}`));
    const from = [
      ...(target.sourcesRead ?? []),
      ...[...target.blobs.values()].flatMap((b) => (b.mountedFrom ? [b.mountedFrom] : [])),
    ];
    for (const repository of from) {
      const name = `${target.registry}/${repository}`;
      if (!own.has(name)) out.add(name);
    }
  }
  return [...out];
}

/** One repository's blob outcomes in a few words: `3 mounted`, `2 uploaded, 1 failed`. */
function outcomeWords(target: TargetResult): string {
  const counts = new Map<string, number>();
  for (const b of target.blobs.values()) {
    const word =
      b.state === 'failed'
        ? 'failed'
        : b.state === 'pushed'
          ? 'uploaded'
          : b.how === 'mounted'
            ? 'mounted'
            : 'in place';
    counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  return [...counts].map(([word, n]) => `${n} ${word}`).join(', ');
}

function blobTables(result: PushResult): string[] {
  const image = result.image;
  if (!image || !result.targets.some((t) => t.blobs.size)) return [];
  // A few failed blobs are each shown in full above, and the counts say the rest.
  if (!result.ok && result.failedBlobs.length <= DETAILED_PER_CAUSE) return [];
  const body: string[] = [];
  const nodes = manifests(image.root);
  const isIndex = image.root.kind === 'index';
  const withBlobs = result.targets.filter((t) => t.blobs.size);
  for (const target of withBlobs.slice(0, TABLED_TARGETS)) {
    for (const node of nodes) {
      body.push(
        `**${code(`${target.registry}/${target.repository}`)} — ${escapeMarkdown(manifestName(node, isIndex))} ${code(shortDigest(node.descriptor.digest))}**`,
        '',
        table(['state', 'blob', 'digest', 'size', 'how', 'time'], blobRows(node, target)),
        '',
      );
    }
  }
  const rest = withBlobs.slice(TABLED_TARGETS);
  if (rest.length) {
    const groups = new Map<string, TargetResult[]>();
    for (const target of rest) {
      const words = outcomeWords(target);
      groups.set(words, [...(groups.get(words) ?? []), target]);
    }
    body.push(
      `**${plural(rest.length, 'more repository', 'more repositories')}:**`,
      '',
      table(
        ['repositories', 'blobs', 'for example'],
        [...groups].map(([words, targets]) => [
          `${targets.length}`,
          words,
          targets
            .slice(0, 2)
            .map((t) => code(`${t.registry}/${t.repository}`))
            .join(', ') + (targets.length > 2 ? ', …' : ''),
        ]),
      ),
      '',
    );
  }
  const rows = withBlobs.reduce((n, t) => n + t.blobs.size, 0);
  // On success the tables are a record, not news: collapsed. On failure they show where it stopped.
  if (result.ok)
    return details(
      `Blobs (${rows} in ${plural(withBlobs.length, 'repository', 'repositories')})`,
      body,
    );
  return ['### Blobs', '', ...body];
}

/** What the push got past: it succeeded, but the registry or the path is not well. */
function recoveredSection(result: PushResult, shell: Shell): string[] {
  const found = recoveries(result, shell);
  if (!found.length) return [];
  const out = [
    '### Recovered',
    '',
    `oci-push got past ${found.length === 1 ? 'this' : 'these'} on the way${result.ok ? ': the push is complete and verified' : ''}. Other clients, and a later push, may not:`,
    '',
  ];
  for (const r of found) out.push(`- ${r.title}`, `  **Fix:** ${r.fix}`);
  return [...out, ''];
}

/** Up to this many blobs, the summary ends with every full digest; the outputs have them all. */
const FULL_DIGESTS_UP_TO = 20;

/** The heading, and the digest and source lines under it. */
/** A dry run that got through: what a push would send and tag; nothing was written. */
function dryRunSummary(result: PushResult, dryRun: DryRun): string[] {
  const digest = result.digest ? ` ${code(shortDigest(result.digest))}` : '';
  const source = result.image?.source;
  const tags = dryRun.wouldTag.length
    ? dryRun.wouldTag.map((t) => code(t)).join(', ')
    : 'nothing (push by digest)';
  return [
    `## ✅ oci-push: dry run${digest}, nothing written`,
    '',
    ...(result.digest ? [`**Digest:** ${code(result.digest)}  `] : []),
    ...(source ? [`**Source:** ${escapeMarkdown(source)}`] : []),
    '',
    ...madeSection(result),
    `- **Would upload:** ${plural(dryRun.wouldUpload, 'blob')} (${formatSize(dryRun.wouldUploadBytes)})`,
    `- **Already there:** ${plural(dryRun.present, 'blob')}`,
    `- **Would tag:** ${tags}`,
    '',
  ];
}

function headSection(result: PushResult, groups: CauseGroup[]): string[] {
  const digest = result.digest ? ` ${code(shortDigest(result.digest))}` : '';
  const out = [`## ${result.ok ? `✅ oci-push: pushed${digest}` : '❌ oci-push: push failed'}`, ''];
  if (!result.ok) out.push(...causesSection(result, groups));
  if (result.digest) {
    // A failed push's digest is what would have been pushed: say plainly that nothing points at it.
    const state = result.ok
      ? ''
      : result.refs.length
        ? ` (pushed to ${result.refs.length} of ${result.targetRefs.length} targets)`
        : ' — **not pushed**: no tag or manifest points at it';
    out.push(`**Digest:** ${code(result.digest)}${state}  `);
  }
  const source = result.image?.source ?? result.source;
  if (source) out.push(`**Source:** ${escapeMarkdown(source)}`);
  return [...out, ''];
}

/** Problems worked around that will hurt other clients, each with its cause. */
function warningsSection(result: PushResult, shell: Shell): string[] {
  const warnings = observedWarnings(result, shell);
  if (!warnings.length) return [];
  const out = ['### Warnings', ''];
  for (const w of warnings)
    out.push(`**${code(w.registry)}:** ${escapeMarkdown(w.seen)}`, '', ...renderCause(w.cause), '');
  return out;
}

/** Where a failed push stopped, and what re-running it will send. */
function whatFailedSection(result: PushResult, shell: Shell): string[] {
  if (result.ok) return [];
  const failedCount = result.failedBlobs.length;
  const out = [
    '### What failed',
    '',
    `${escapeMarkdown(result.error?.message ?? 'unknown error')}`,
    '',
  ];
  if (result.phase !== 'blobs' || !failedCount) {
    out.push(`- **Stopped at:** ${escapeMarkdown(result.phase ?? 'push')}`);
    if (result.error instanceof RegistryError)
      out.push(`- **Registry answered:** ${lastAnswer([result.error])}`);
    if (result.phase === 'validate' && result.cause !== 'cancelled')
      out.push(`- **Fix:** ${causeOf('input', {}, shell).fix}`);
    out.push('');
  }
  if (failedCount) {
    const kept = result.blobsUploaded + result.blobsSkipped;
    // Blobs that never started once the push stopped (a read-only registry) are sent next time too.
    const planned = (result.image?.blobs.size ?? 0) * result.targets.length;
    const notTried = Math.max(0, planned - failedCount - kept);
    const also = notTried ? ` and the ${notTried} not tried after the push stopped` : '';
    out.push(
      `> [!NOTE]\n> Re-running this job uploads only the ${plural(failedCount, 'failed blob')}${also}: ${kept === 1 ? 'the 1 blob already verified in the registry is' : `the ${kept} blobs already verified in the registry are`} skipped by HEAD. No manifest or tag was pushed, so nothing points at an incomplete image.`,
      '',
    );
  }
  return out;
}

/** Whether any blob was attempted: a push that stopped before them has no blob statistics. */
const attempted = (result: PushResult): boolean => result.targets.some((t) => t.blobs.size > 0);

/** The blob counts, the repositories read, and the layers registries do not store. */
function countsSection(result: PushResult): string[] {
  if (!result.ok && !attempted(result)) return [];
  const mounted = result.blobsMounted
    ? ` (${result.blobsMounted} mounted: ${formatSize(result.bytesMounted)} not sent)`
    : '';
  const counts = `${result.blobsUploaded} uploaded (${formatSize(result.bytesUploaded)}), ${result.blobsSkipped} already in place${mounted}, ${result.failedBlobs.length} failed, in ${formatDuration(result.durationMs)}`;
  const out = [`**Blobs:** ${counts}`, ''];
  const read = repositoriesRead(result);
  if (read.length)
    out.push(
      `**Read from:** ${read.map((r) => code(r)).join(', ')} (pull only: to find or mount blobs this image's layout holds, each file hashed before its mount)`,
      '',
    );
  const foreign = result.image?.foreign ?? [];
  if (foreign.length)
    out.push(
      `**Not pushed:** ${foreign.length} non-distributable layer${foreign.length === 1 ? '' : 's'} (${foreign.map((f) => code(shortDigest(f.digest))).join(', ')}): registries do not store them; pulls fetch them from their ${code('urls')}.`,
      '',
    );
  return out;
}

/** The diagnosis after a failure: a row per check, then the causes it found, each once. */
function diagnosisSection(findings: Finding[] | undefined, shell: Shell): string[] {
  if (!findings?.length) return [];
  const result = (f: Finding): string =>
    f.ok === undefined ? '— not probed' : f.ok ? '✅' : f.workaround ? '⚠️ worked around' : '❌';
  const out = [
    '### Diagnosis',
    '',
    table(
      ['check', 'result', 'detail'],
      findings.map((f) => [escapeMarkdown(f.check), result(f), escapeMarkdown(f.detail)]),
    ),
    '',
  ];
  const causes = new Map<string, Cause>();
  for (const f of findings)
    if (f.ok === false && f.cause && !f.workaround)
      causes.set(f.cause, causeOf(f.cause, {}, shell));
  for (const c of causes.values()) out.push(...renderCause(c), '');
  const around = new Set(
    findings.filter((f) => f.ok === false && f.workaround && f.cause).map((f) => f.cause!),
  );
  for (const id of around) out.push(`- **Worked around:** ${workaroundOf(id, shell) ?? ''}`, '');
  return out;
}

/** Every full digest, for an image small enough to list them. */
function digestsSection(result: PushResult): string[] {
  // A failed push names its failed blobs in full above, and the failed-blobs output lists them.
  if (!result.ok) return [];
  const image = result.image;
  if (!image || !image.blobs.size || image.blobs.size > FULL_DIGESTS_UP_TO) return [];
  return details(
    'Full digests',
    [...image.blobs.values()].map(
      (blob) => `- ${code(blob.digest)} ${escapeMarkdown(blob.mediaType)}, ${blob.size} bytes`,
    ),
  );
}

/** Renders the step summary as GitHub-flavoured markdown. Every foreign string is escaped. */
export function renderSummary(result: PushResult, extras: SummaryExtras = {}): string {
  const shell = extras.shell ?? 'action';
  if (result.ok && result.dryRun) return dryRunSummary(result, result.dryRun).join('\n');
  const groups = failureCauses(result, shell);
  return [
    ...headSection(result, groups),
    ...madeSection(result),
    ...targetsSection(result),
    ...recoveredSection(result, shell),
    ...warningsSection(result, shell),
    ...whatFailedSection(result, shell),
    ...countsSection(result),
    ...failedBlobsSection(result, groups),
    ...diagnosisSection(extras.findings, shell),
    ...blobTables(result),
    ...digestsSection(result),
  ].join('\n');
}
