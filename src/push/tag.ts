import type { Logger } from '../util/logger.js';
import type { Target } from './targets.js';

const LOGGED_TAGS = 5;

/**
 * The last step of every push: set each target's tags (with `put`), in order, adding to `refs` each
 * ref the outputs report as soon as it is set (`host/repo:tag@digest`, or `host/repo@digest` for a
 * target without tags), so a failure on a later tag still reports the earlier ones.
 */
export async function applyTags(
  targets: readonly Target[],
  digest: string,
  put: (target: Target, tag: string) => Promise<void>,
  logger: Logger,
  refs: string[],
): Promise<string[]> {
  let tagged = 0;
  for (const target of targets) {
    for (const tag of target.tags) {
      await put(target, tag);
      refs.push(`${target.registry}/${target.repository}:${tag}@${digest}`);
      // A line a tag for the first few; a push to hundreds of repositories logs a count instead.
      const say = ++tagged <= LOGGED_TAGS ? logger.info : logger.debug;
      say.call(logger, `tagged ${target.registry}/${target.repository}:${tag}`);
    }
    if (!target.tags.length) refs.push(`${target.registry}/${target.repository}@${digest}`);
  }
  if (tagged > LOGGED_TAGS) logger.info(`tagged ${tagged} references in all`);
  return refs;
}
