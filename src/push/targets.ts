import { InputError } from '../util/errors.js';
import type { ImageReference } from '../registry/reference.js';
import { formatReference } from '../registry/reference.js';

export interface Target {
  registry: string;
  apiHost: string;
  repository: string;
  tags: string[];
}

/** Groups references by repository, keeping the user's order; digests in references must match ours. */
export function planTargets(refs: ImageReference[], digest: string): Target[] {
  const targets = new Map<string, Target>();
  for (const ref of refs) {
    if (ref.digest && ref.digest !== digest) {
      throw new InputError(
        `tag ${formatReference(ref)}: names digest ${ref.digest}, but the image is ${digest}`,
      );
    }
    const key = `${ref.apiHost}/${ref.repository}`;
    let target = targets.get(key);
    if (!target) {
      target = {
        registry: ref.registry,
        apiHost: ref.apiHost,
        repository: ref.repository,
        tags: [],
      };
      targets.set(key, target);
    }
    if (ref.tag && !target.tags.includes(ref.tag)) target.tags.push(ref.tag);
  }
  return [...targets.values()];
}
