import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** What an OCI layout holds: the top digest (from index.json) and the set of every blob file. */
export async function layoutContents(dir: string): Promise<{ top: string; blobs: Set<string> }> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as {
    manifests: { digest: string }[];
  };
  const blobs = new Set<string>();
  for (const algorithm of await readdir(join(dir, 'blobs'))) {
    for (const hex of await readdir(join(dir, 'blobs', algorithm)))
      blobs.add(`${algorithm}:${hex}`);
  }
  return { top: index.manifests[0]?.digest ?? '', blobs };
}

/** The tags a repository has, or [] when the registry does not know the repository. */
export async function listTags(
  registryUrl: string,
  repository: string,
  auth?: string,
): Promise<string[]> {
  const res = await fetch(`${registryUrl}/v2/${repository}/tags/list`, {
    headers: auth ? { authorization: auth } : {},
  });
  if (res.status === 404) return [];
  const body = (await res.json()) as { tags?: string[] | null };
  return body.tags ?? [];
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
