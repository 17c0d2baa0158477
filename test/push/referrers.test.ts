import { describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import type { ImageNode } from '../../src/oci/image.js';
import { addReferrer, referrersTag } from '../../src/push/referrers.js';
import type { RepositoryClient } from '../../src/registry/client.js';
import { RegistryError } from '../../src/registry/errors.js';
import { silentLogger } from '../../src/util/logger.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const subject = { mediaType: OCI_MANIFEST, digest: `sha256:${'a'.repeat(64)}`, size: 10 };

function artifact(name: string): ImageNode {
  const raw = Buffer.from(name);
  return {
    kind: 'manifest',
    descriptor: { mediaType: OCI_MANIFEST, digest: digestOf(raw), size: raw.length },
    raw,
    file: name,
    manifest: {
      schemaVersion: 2,
      artifactType: `application/vnd.example.${name}`,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf('{}'), size: 2 },
      layers: [],
      subject,
    },
    blobs: [],
  };
}

/** A registry tag in memory; `moveOnce` makes another pusher move it between a read and a write. */
function fakeRegistry(moveOnce?: ImageNode) {
  let stored: Buffer | undefined;
  let pending = moveOnce;
  const index = (manifests: unknown[]): Buffer =>
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests,
      }),
    );
  const client = {
    getManifest: async () => {
      if (!stored)
        throw new RegistryError({ method: 'GET', url: 'http://r/', status: 404, op: 'read' });
      return { raw: stored, mediaType: 'application/vnd.oci.image.index.v1+json' };
    },
    manifestDigest: async () => {
      if (pending) {
        // Another pusher wrote its own artifact after our read.
        stored = index([{ mediaType: OCI_MANIFEST, digest: pending.descriptor.digest, size: 3 }]);
        pending = undefined;
      }
      return stored ? digestOf(stored) : undefined;
    },
    putManifest: async (_tag: string, _type: string, raw: Buffer) => {
      stored = raw;
      return { digest: digestOf(raw) };
    },
  };
  return {
    client: client as unknown as RepositoryClient,
    listed: () =>
      stored
        ? (JSON.parse(stored.toString()) as { manifests: { digest: string }[] }).manifests
        : [],
  };
}

describe('the referrers tag schema', () => {
  it('names the tag after the subject digest', () => {
    expect(referrersTag(subject.digest)).toBe(`sha256-${'a'.repeat(64)}`);
    expect(referrersTag(`sha512:${'b'.repeat(128)}`)).toBe(`sha512-${'b'.repeat(64)}`);
  });

  it('re-reads when another pusher moved the tag, and keeps both artifacts', async () => {
    const theirs = artifact('theirs');
    const ours = artifact('ours');
    const registry = fakeRegistry(theirs);
    await addReferrer(registry.client, ours, subject, silentLogger);
    expect(registry.listed().map((m) => m.digest)).toEqual([
      theirs.descriptor.digest,
      ours.descriptor.digest,
    ]);
  });

  it('adds an artifact once', async () => {
    const registry = fakeRegistry();
    const ours = artifact('ours');
    expect(await addReferrer(registry.client, ours, subject, silentLogger)).toBe(
      `sha256-${'a'.repeat(64)}`,
    );
    expect(await addReferrer(registry.client, ours, subject, silentLogger)).toBeUndefined();
    expect(registry.listed()).toHaveLength(1);
  });
});
