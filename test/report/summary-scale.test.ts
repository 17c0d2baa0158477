import { describe, expect, it } from 'vitest';
import type { PushResult } from '../../src/push/result.js';
import { RegistryError } from '../../src/registry/errors.js';
import { causeOf, inShell } from '../../src/report/causes.js';
import { recoveries } from '../../src/report/failure-model.js';
import { Output, outputsOf } from '../../src/report/outputs.js';
import { renderSummary, triedLine } from '../../src/report/summary.js';
import { newBlobOutcome } from '../../src/transfer/outcome.js';
import { renderGfm } from '../support/gfm.js';

const hex = (i: number): string => i.toString(16).padStart(64, '0');

/** A push of `n` blobs to one repository, every one refused by nginx as too large. */
function failedPush(n: number): PushResult {
  const blobs = new Map(
    Array.from({ length: n }, (_, i) => {
      const digest = `sha256:${hex(i + 1)}`;
      const outcome = newBlobOutcome({ digest, size: 4096 + i, mediaType: 'application/x' });
      outcome.cause = 'nginx-body-limit';
      outcome.largestRefused = 4096 + i;
      outcome.attempts = 1;
      outcome.error = new Error('413');
      outcome.errors.push(
        new RegistryError({
          method: 'PUT',
          op: 'put-blob',
          url: `http://registry.example.com/v2/team/app/blobs/uploads/u?digest=${digest}`,
          status: 413,
          headers: { server: 'nginx' },
        }),
      );
      outcome.tried.push(`monolithic upload: PUT the upload session → 413`);
      return [digest, outcome];
    }),
  );
  const digests = [...blobs.keys()];
  return {
    ok: false,
    digest: `sha256:${'f'.repeat(64)}`,
    refs: [],
    elsewhere: [],
    referrers: [],
    targetRefs: ['registry.example.com/team/app:1'],
    targets: [
      {
        registry: 'registry.example.com',
        apiHost: 'registry.example.com',
        repository: 'team/app',
        tags: ['1'],
        blobs,
      },
    ],
    phase: 'blobs',
    error: new Error(`${n} blobs failed`),
    failedBlobs: digests,
    blobsUploaded: 0,
    blobsSkipped: 0,
    blobsMounted: 0,
    bytesUploaded: 0,
    bytesMounted: 0,
    durationMs: 1000,
  };
}

describe('a summary that scales with failures', () => {
  it('1,000 failed blobs: under 40 KB, the cause and fix first, at most 40 full digests', () => {
    const summary = renderSummary(failedPush(1000));
    expect(Buffer.byteLength(summary)).toBeLessThan(40_000);
    expect(summary.indexOf('**Fix:**')).toBeLessThan(2_500);
    expect(summary.match(/sha256:[0-9a-f]{64}/g)?.length ?? 0).toBeLessThanOrEqual(40);
    // One group, its count, and the rest of the blobs in one collapsed table with a bounded length.
    expect(summary).toContain('**1000 blobs: 413 from nginx**');
    const page = renderGfm(summary);
    expect(page.html).toContain('<summary>997 more failed blobs');
    expect(summary).toContain('… and 797 more.');
    // The group names the smallest body refused: every blob of it is at least that large.
    expect(summary).toContain('a request body of 4.0 KiB');
  });

  it('the digest of a failed push is marked as not pushed', () => {
    expect(renderSummary(failedPush(1))).toMatch(
      /\*\*Digest:\*\* `sha256:f{64}` — \*\*not pushed\*\*/,
    );
  });
});

describe('texts in the syntax of the shell that runs', () => {
  it('settings are inputs in the action and flags in the CLI', () => {
    expect(inShell('use {{upload-mode: auto}} and {{ca-file}}', 'action')).toBe(
      'use `upload-mode: auto` and `ca-file`',
    );
    expect(inShell('use {{upload-mode: auto}} and {{ca-file}}', 'cli')).toBe(
      'use `--upload-mode auto` and `--ca-file`',
    );
    expect(inShell('{{insecure: true}} in {{tags}}', 'cli')).toBe(
      '`--insecure` in the target reference',
    );
    for (const id of ['nginx-body-limit', 'tls-untrusted', 'unknown'] as const) {
      expect(causeOf(id, {}, 'cli').fix).not.toMatch(/\{\{|\[\[|`[a-z-]+: /);
      expect(causeOf(id, {}, 'action').fix).not.toMatch(/\{\{|\[\[|`--/);
    }
  });

  it("Cloudflare's plan limits only where the refused size fits them", () => {
    expect(causeOf('cloudflare-body-limit', { largestRefused: 2 << 20 }).title).not.toMatch(
      /Free and Pro/,
    );
    expect(causeOf('cloudflare-body-limit', { largestRefused: 150e6 }).title).toMatch(
      /over the limit of Cloudflare's Free and Pro \(100 MB\) plan\./,
    );
  });
});

describe('what a Tried line keeps', () => {
  it('never leaves half a URL ("the blob blob")', () => {
    const d = `sha256:${hex(7)}`;
    const line = triedLine(`HEAD http://r.example/v2/a/blobs/${d} → 404, blob ${d}`, d);
    expect(line).toBe('HEAD the blob → 404, this blob');
  });
});

describe('recoveries', () => {
  it('count only blobs that made it, by kind', () => {
    const result = failedPush(2);
    const [a, b] = [...result.targets[0]!.blobs.values()];
    a!.state = 'pushed';
    a!.recovered = { reuploads: 1, lagHeads: 2, lostSessions: 0, retries: 3 };
    b!.recovered = { reuploads: 5, lagHeads: 0, lostSessions: 0, retries: 0 };
    const found = recoveries(result);
    expect(found.map((r) => [r.kind, r.facts.blobs, r.facts.times])).toEqual([
      ['reuploaded', 1, 1],
      ['replica-lag', 1, 2],
      ['retries', 1, 3],
    ]);
  });

  it('a switch to chunks says why the single body failed; the output counts each as chunked', () => {
    const result = failedPush(3);
    const blobs = [...result.targets[0]!.blobs.values()];
    const why = ['body-too-large', 'single-body-refused', 'body-cut'] as const;
    blobs.forEach((blob, i) => {
      blob.state = 'pushed';
      blob.recovered = {
        reuploads: 0,
        lagHeads: 0,
        lostSessions: 0,
        retries: 0,
        chunkedBecause: why[i],
        largestRefused: 5 << 20,
        chunkBytes: 2 << 20,
      };
    });
    const titles = Object.fromEntries(recoveries(result).map((r) => [r.kind, r.title]));
    expect(titles.chunked).toMatch(/refused 1 request body of up to 5\.0 MiB as too large/);
    expect(titles['chunks-only']).toMatch(/takes uploads only in chunks/);
    expect(titles['chunks-only']).not.toMatch(/too large/);
    expect(titles['chunked-after-cuts']).toMatch(
      /The connection broke while 1 blob of up to 5\.0 MiB/,
    );
    expect(titles['chunked-after-cuts']).not.toMatch(/too large/);
    expect(JSON.parse(outputsOf(result)[Output.recoveries]).chunked).toBe(3);
  });

  it('identical attempts are one line with a count, and one kept blob is said in the singular', () => {
    const result = failedPush(1);
    const blob = [...result.targets[0]!.blobs.values()][0]!;
    blob.tried = Array<string>(6).fill('monolithic upload: PUT the upload session → 503');
    const summary = renderSummary(result);
    expect(summary).toContain('PUT the upload session → 503 (×6)');
    expect(summary.match(/PUT the upload session → 503/g)).toHaveLength(1);
  });
});
