import { shortDigest } from '../oci/digest.js';
import type { ImageNode, ManifestNode } from '../oci/image.js';
import { manifestsBottomUp } from '../oci/image.js';
import { formatPlatform } from '../oci/types.js';
import type { BlobOutcome, PushResult, TargetResult } from '../push/result.js';
import { formatSize } from '../upload/upload-blob.js';
import { code, escapeMarkdown, formatDuration, table } from './markdown.js';

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
  if (outcome.state === 'failed') return '**failed**';
  return outcome.state === 'pushed' ? 'pushed, verified' : 'in place';
}

function manifestLabel(node: ManifestNode, parentIsIndex: boolean): string {
  const platform = formatPlatform(node.descriptor.platform);
  const kind =
    node.descriptor.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest'
      ? 'attestation'
      : undefined;
  const name =
    platform && platform !== 'unknown/unknown'
      ? platform
      : (kind ?? (parentIsIndex ? 'manifest' : 'image'));
  return `${escapeMarkdown(name)} ${code(shortDigest(node.descriptor.digest))}`;
}

function blobRows(node: ManifestNode, target: TargetResult): string[][] {
  return node.blobs.map((blob, i) => {
    const outcome = target.blobs.get(blob.digest);
    const role = i === 0 ? 'config' : `layer ${i}`;
    return [
      role,
      code(shortDigest(blob.digest)),
      escapeMarkdown(blob.mediaType),
      formatSize(blob.size),
      outcome ? how(outcome) : '—',
      outcome ? String(outcome.attempts) : '—',
      outcome ? formatDuration(outcome.durationMs) : '—',
      stateCell(outcome),
    ];
  });
}

function manifests(root: ImageNode): ManifestNode[] {
  return manifestsBottomUp(root).filter((n): n is ManifestNode => n.kind === 'manifest');
}

/** Renders the step summary as GitHub-flavoured markdown. Every foreign string is escaped. */
export function renderSummary(result: PushResult): string {
  const out: string[] = [];
  const title = result.ok ? '✅ oci-push: pushed' : '❌ oci-push: push failed';
  out.push(`## ${title}`);
  out.push('');
  if (result.digest) out.push(`**Digest:** ${code(result.digest)}`);
  if (result.image) out.push(`**Source:** ${escapeMarkdown(result.image.source)}`);
  out.push('');
  out.push('**Targets:**');
  out.push('');
  const pushed = new Set(result.refs.map((r) => r.replace(/@sha(256|512):.*$/, '')));
  for (const ref of result.targetRefs) {
    const mark = pushed.has(ref.replace(/@sha(256|512):.*$/, '')) ? '✅' : result.ok ? '' : '✗';
    out.push(`- ${mark} ${code(ref)}`.replace('-  ', '- '));
  }
  out.push('');
  if (result.error) {
    out.push(
      `**Error** (${escapeMarkdown(result.phase ?? 'push')}): ${escapeMarkdown(result.error.message)}`,
    );
    out.push('');
  }
  const counts = `${result.blobsUploaded} uploaded (${formatSize(result.bytesUploaded)}), ${result.blobsSkipped} already in place${result.blobsMounted ? ` (${result.blobsMounted} mounted)` : ''}, ${result.failedBlobs.length} failed, in ${formatDuration(result.durationMs)}`;
  out.push(`**Blobs:** ${counts}`);
  out.push('');

  const image = result.image;
  if (image) {
    for (const target of result.targets) {
      out.push(`### ${code(`${target.registry}/${target.repository}`)}`);
      out.push('');
      const nodes = manifests(image.root);
      const isIndex = image.root.kind === 'index';
      for (const node of nodes) {
        if (isIndex || result.targets.length > 1)
          out.push(`**${manifestLabel(node, isIndex)}**`, '');
        out.push(
          table(
            ['blob', 'digest', 'media type', 'size', 'how', 'attempts', 'time', 'state'],
            blobRows(node, target),
          ),
        );
        out.push('');
      }
    }
    const all = [...image.blobs.values()];
    out.push('<details><summary>Full digests</summary>');
    out.push('');
    for (const blob of all)
      out.push(`- ${code(blob.digest)} ${escapeMarkdown(blob.mediaType)}, ${blob.size} bytes`);
    out.push('');
    out.push('</details>');
    out.push('');
  }
  return out.join('\n');
}
