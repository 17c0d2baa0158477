import { shortDigest } from '../oci/digest.js';
import type { ImageNode, ManifestNode } from '../oci/image.js';
import { manifestsBottomUp } from '../oci/image.js';
import { formatPlatform } from '../oci/types.js';
import type { Finding } from '../diagnose/finding.js';
import type { BlobOutcome, PushResult, TargetResult } from '../push/result.js';
import { RegistryError } from '../registry/errors.js';
import { formatDuration, formatSize } from '../util/format.js';
import { type Cause, causeOf } from './causes.js';
import { code, escapeMarkdown, table } from './markdown.js';

export type { Finding } from '../diagnose/finding.js';

/** The probable cause of one failed blob, as the failure rules decided it. */
export function blobCause(blob: BlobOutcome): Cause {
  return causeOf(blob.cause ?? 'unknown', { refusedBytes: blob.refusedBytes });
}

/** The probable cause of a push that stopped outside the blobs. */
export function pushCause(result: PushResult): Cause {
  return causeOf(result.cause ?? 'unknown');
}

export interface SummaryExtras {
  findings?: Finding[];
}

function how(outcome: BlobOutcome): string {
  switch (outcome.how) {
    case 'present':
      return 'already present';
    case 'mounted':
      return 'mounted';
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
  return outcome.state === 'pushed' ? '✅ pushed, verified' : '✅ in place';
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

function blobRows(node: ManifestNode, target: TargetResult): string[][] {
  return node.blobs.map((blob, i) => {
    const outcome = target.blobs.get(blob.digest);
    return [
      role(i),
      `${code(shortDigest(blob.digest))}`,
      escapeMarkdown(blob.mediaType),
      formatSize(blob.size),
      outcome ? how(outcome) : '—',
      outcome ? String(outcome.attempts) : '—',
      outcome ? formatDuration(outcome.durationMs) : '—',
      stateCell(outcome),
    ];
  });
}

/** What the registry last said about a blob: status, error codes and messages, and who said it. */
export function lastAnswer(errors: readonly RegistryError[], fallback?: Error): string {
  const last = errors[errors.length - 1];
  if (!last) return fallback ? escapeMarkdown(fallback.message) : 'no answer recorded';
  const parts: string[] = [];
  parts.push(
    last.status !== undefined
      ? `HTTP ${last.status}`
      : `no response (${escapeMarkdown(last.networkCode ?? 'network error')})`,
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

/** Cause texts are this project's own constant markdown, so they are not escaped. */
function renderCause(cause: Cause): string[] {
  return [`- **Probable cause:** ${cause.title}`, `- **Fix:** ${cause.fix}`];
}

function failedBlobSection(result: PushResult, target: TargetResult): string[] {
  const image = result.image;
  const failed = [...target.blobs.values()].filter((b) => b.state === 'failed');
  if (!image || !failed.length) return [];
  const out: string[] = [];
  const nodes = manifests(image.root);
  const isIndex = image.root.kind === 'index';
  for (const blob of failed) {
    const where = nodes.flatMap((node) =>
      node.blobs
        .map((b, i) =>
          b.digest === blob.digest
            ? `${escapeMarkdown(manifestName(node, isIndex))} manifest ${code(shortDigest(node.descriptor.digest))}, ${role(i)} of ${node.blobs.length - 1}`
            : undefined,
        )
        .filter((x): x is string => x !== undefined),
    );
    const cause = blobCause(blob);
    out.push(`#### ❌ ${code(blob.digest)}`, '');
    out.push(
      `- **Where:** ${code(`${target.registry}/${target.repository}`)}: ${where.join('; ') || 'image'}`,
    );
    out.push(`- **Size:** ${formatSize(blob.size)} (${escapeMarkdown(blob.mediaType)})`);
    out.push(`- **Registry answered:** ${lastAnswer(blob.errors, blob.error)}`);
    if (blob.tried.length) {
      out.push(`- **Tried** (${blob.attempts} upload session${blob.attempts === 1 ? '' : 's'}):`);
      for (const line of blob.tried.slice(-8)) out.push(`  - ${escapeMarkdown(line)}`);
      if (blob.tried.length > 8) out.push(`  - … and ${blob.tried.length - 8} earlier`);
    }
    out.push(...renderCause(cause), '');
  }
  return out;
}

export interface ObservedWarning {
  registry: string;
  seen: string;
  cause: Cause;
}

/** Problems oci-push worked around that will hurt other clients (and later pushes): say so even on success. */
export function observedWarnings(result: PushResult): ObservedWarning[] {
  const out: ObservedWarning[] = [];
  const seen = new Set<string>();
  for (const target of result.targets) {
    const o = target.observations;
    if (!o || seen.has(target.apiHost)) continue;
    seen.add(target.apiHost);
    if (o.locationDowngraded) {
      out.push({
        registry: target.registry,
        seen: 'the registry answered with http Location headers over https; oci-push kept https.',
        cause: causeOf('location-downgrade'),
      });
    }
    if (o.unauthorizedMidPush > 0) {
      out.push({
        registry: target.registry,
        seen: `the registry answered 401 partway through the push ${o.unauthorizedMidPush} time(s); oci-push fetched a new token.`,
        cause: causeOf('token-lifetime'),
      });
    }
  }
  return out;
}

/** Renders the step summary as GitHub-flavoured markdown. Every foreign string is escaped. */
export function renderSummary(result: PushResult, extras: SummaryExtras = {}): string {
  const out: string[] = [];
  out.push(`## ${result.ok ? '✅ oci-push: pushed' : '❌ oci-push: push failed'}`, '');
  if (result.digest) out.push(`**Digest:** ${code(result.digest)}  `);
  const source = result.image?.source ?? result.source;
  if (source) out.push(`**Source:** ${escapeMarkdown(source)}`);
  out.push('', '**Targets:**', '');
  const pushed = new Set(result.refs.map((r) => r.replace(/@sha(256|512):.*$/, '')));
  for (const ref of result.targetRefs) {
    const done = pushed.has(ref.replace(/@sha(256|512):.*$/, ''));
    out.push(`- ${done ? '✅' : '⬜'} ${code(ref)}${done ? '' : ' (not tagged)'}`);
  }
  out.push('');

  const warnings = observedWarnings(result);
  if (warnings.length) {
    out.push('### Warnings', '');
    for (const w of warnings)
      out.push(
        `**${code(w.registry)}:** ${escapeMarkdown(w.seen)}`,
        '',
        ...renderCause(w.cause),
        '',
      );
  }

  const failedCount = result.failedBlobs.length;
  if (!result.ok) {
    out.push('### What failed', '');
    out.push(`${escapeMarkdown(result.error?.message ?? 'unknown error')}`, '');
    if (result.phase !== 'blobs' || !failedCount) {
      out.push(`- **Stopped at:** ${escapeMarkdown(result.phase ?? 'push')}`);
      if (result.error instanceof RegistryError)
        out.push(`- **Registry answered:** ${lastAnswer([result.error])}`);
      if (result.phase !== 'validate') out.push(...renderCause(pushCause(result)));
      else out.push('- **Fix:** correct the input named above; nothing was sent to the registry.');
      out.push('');
    }
    if (failedCount) {
      const kept = result.blobsUploaded + result.blobsSkipped;
      out.push(
        `> [!NOTE]\n> Re-running this job uploads only the ${failedCount} failed blob${failedCount === 1 ? '' : 's'}: the ${kept} blob${kept === 1 ? '' : 's'} already verified in the registry are skipped by HEAD. No manifest or tag was pushed, so nothing points at an incomplete image.`,
        '',
      );
    }
  }

  const counts = `${result.blobsUploaded} uploaded (${formatSize(result.bytesUploaded)}), ${result.blobsSkipped} already in place${result.blobsMounted ? ` (${result.blobsMounted} mounted)` : ''}, ${failedCount} failed, in ${formatDuration(result.durationMs)}`;
  out.push(`**Blobs:** ${counts}`, '');
  const foreign = result.image?.foreign ?? [];
  if (foreign.length)
    out.push(
      `**Not pushed:** ${foreign.length} non-distributable layer${foreign.length === 1 ? '' : 's'} (${foreign.map((f) => code(f.digest)).join(', ')}): registries do not store them; pulls fetch them from their ${code('urls')}.`,
      '',
    );

  if (failedCount) {
    out.push('### Failed blobs', '');
    for (const target of result.targets) out.push(...failedBlobSection(result, target));
  }

  if (extras.findings?.length) {
    out.push('### Diagnosis', '');
    out.push(
      table(
        ['check', 'result', 'detail'],
        extras.findings.map((f) => [
          escapeMarkdown(f.check),
          f.ok === undefined ? '— not probed' : f.ok ? '✅' : '❌',
          escapeMarkdown(f.detail),
        ]),
      ),
    );
    out.push('');
    const causes = new Map<string, Cause>();
    for (const f of extras.findings)
      if (f.ok === false && f.cause) causes.set(f.cause, causeOf(f.cause));
    for (const c of causes.values()) out.push(...renderCause(c), '');
  }

  const image = result.image;
  if (image && result.targets.some((t) => t.blobs.size)) {
    out.push('### Blobs', '');
    const nodes = manifests(image.root);
    const isIndex = image.root.kind === 'index';
    for (const target of result.targets) {
      if (!target.blobs.size) continue;
      for (const node of nodes) {
        out.push(
          `**${code(`${target.registry}/${target.repository}`)} — ${escapeMarkdown(manifestName(node, isIndex))} ${code(shortDigest(node.descriptor.digest))}**`,
          '',
        );
        out.push(
          table(
            ['blob', 'digest', 'media type', 'size', 'how', 'attempts', 'time', 'state'],
            blobRows(node, target),
          ),
        );
        out.push('');
      }
    }
    out.push('<details><summary>Full digests</summary>', '');
    for (const blob of image.blobs.values())
      out.push(`- ${code(blob.digest)} ${escapeMarkdown(blob.mediaType)}, ${blob.size} bytes`);
    out.push('', '</details>', '');
  }
  return out.join('\n');
}

export interface CauseGroup {
  cause: Cause;
  /** The blobs it hit, in the order they failed; empty for a push-level cause. */
  blobs: string[];
}

/** The distinct causes of a failed push, each with the blobs it hit: for annotations and the CLI. */
export function failureCauses(result: PushResult): CauseGroup[] {
  if (result.ok) return [];
  const groups = new Map<string, CauseGroup>();
  for (const target of result.targets) {
    for (const blob of target.blobs.values()) {
      if (blob.state !== 'failed') continue;
      const cause = blobCause(blob);
      const key = `${cause.id}:${cause.title}`;
      const group = groups.get(key) ?? { cause, blobs: [] };
      if (!group.blobs.includes(blob.digest)) group.blobs.push(blob.digest);
      groups.set(key, group);
    }
  }
  if (!groups.size && result.phase !== 'validate') {
    const cause = pushCause(result);
    groups.set(cause.id, { cause, blobs: [] });
  }
  return [...groups.values()];
}
