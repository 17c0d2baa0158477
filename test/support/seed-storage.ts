import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OCI_INDEX, OCI_MANIFEST, sha256 } from './layouts.js';

/**
 * Writes manifests straight into distribution's filesystem storage, as its own PUT would leave them:
 * for documents a test needs by the thousand (a push of each would take the suite's time). The
 * registry serves them as it serves anything it stored.
 */
export async function storeManifest(
  storage: string,
  repository: string,
  body: string,
  tag?: string,
): Promise<string> {
  const digest = sha256(body);
  const hex = digest.slice(7);
  const root = join(storage, 'docker', 'registry', 'v2');
  const blobDir = join(root, 'blobs', 'sha256', hex.slice(0, 2), hex);
  await mkdir(blobDir, { recursive: true });
  await writeFile(join(blobDir, 'data'), body);
  const manifests = join(root, 'repositories', repository, '_manifests');
  const revision = join(manifests, 'revisions', 'sha256', hex);
  await mkdir(revision, { recursive: true });
  await writeFile(join(revision, 'link'), digest);
  if (tag) {
    const current = join(manifests, 'tags', tag, 'current');
    const index = join(manifests, 'tags', tag, 'index', 'sha256', hex);
    await mkdir(current, { recursive: true });
    await mkdir(index, { recursive: true });
    await writeFile(join(current, 'link'), digest);
    await writeFile(join(index, 'link'), digest);
  }
  return digest;
}

/** An index `levels` deep with `fanout` distinct children at each level, tagged `tag`. */
export async function storeIndexTree(
  storage: string,
  repository: string,
  tag: string,
  fanout: number,
  levels: number,
): Promise<{ digest: string; documents: number }> {
  let documents = 0;
  const build = async (
    level: number,
    path: string,
  ): Promise<{ digest: string; size: number; mediaType: string }> => {
    documents++;
    if (level === levels) {
      const body = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 },
        layers: [],
        annotations: { leaf: path },
      });
      return {
        digest: await storeManifest(storage, repository, body),
        size: body.length,
        mediaType: OCI_MANIFEST,
      };
    }
    const manifests = [];
    for (let i = 0; i < fanout; i++) manifests.push(await build(level + 1, `${path}/${i}`));
    const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests });
    const digest = await storeManifest(storage, repository, body, level === 0 ? tag : undefined);
    return { digest, size: body.length, mediaType: OCI_INDEX };
  };
  const root = await build(0, 'root');
  return { digest: root.digest, documents };
}
