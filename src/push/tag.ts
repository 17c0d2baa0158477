import type { Logger } from '../util/logger.js';
import type { Target } from './targets.js';

/**
 * The last step of every push: set each target's tags (with `put`), in order, and return the refs
 * the outputs report: `host/repo:tag@digest`, or `host/repo@digest` for a target without tags.
 */
export async function applyTags(
  targets: readonly Target[],
  digest: string,
  put: (target: Target, tag: string) => Promise<void>,
  logger: Logger,
): Promise<string[]> {
  const refs: string[] = [];
  for (const target of targets) {
    for (const tag of target.tags) {
      await put(target, tag);
      refs.push(`${target.registry}/${target.repository}:${tag}@${digest}`);
      logger.info(`tagged ${target.registry}/${target.repository}:${tag}`);
    }
    if (!target.tags.length) refs.push(`${target.registry}/${target.repository}@${digest}`);
  }
  return refs;
}
