import type { Logger } from '../util/logger.js';
import { TagElsewhereError } from '../transfer/manifest.js';
import type { Target } from './targets.js';

const LOGGED_TAGS = 5;

/**
 * The last step of every push: set each target's tags (with `put`, which reads the tag back and
 * returns the digest the registry serves it as), in order, adding to `refs` each ref the outputs
 * report as soon as it is confirmed (`host/repo:tag@digest`, or `host/repo@digest` for a target
 * without tags), so a failure on a later tag still reports the earlier ones. A tag that reads back
 * with another digest goes to `elsewhere` instead, with the digest it points at.
 */
export async function applyTags(
  targets: readonly Target[],
  digest: string,
  put: (target: Target, tag: string) => Promise<string>,
  logger: Logger,
  refs: string[],
  elsewhere: string[] = [],
): Promise<string[]> {
  let tagged = 0;
  for (const target of targets) {
    for (const tag of target.tags) {
      let served: string;
      try {
        served = await put(target, tag);
      } catch (error) {
        // The tag was set, to something else: say where it points, never list it as pushed.
        if (!(error instanceof TagElsewhereError)) throw error;
        elsewhere.push(`${target.registry}/${target.repository}:${tag}@${error.served}`);
        throw error.error;
      }
      refs.push(`${target.registry}/${target.repository}:${tag}@${served}`);
      // A line a tag for the first few; a push to hundreds of repositories logs a count instead.
      const say = ++tagged <= LOGGED_TAGS ? logger.info : logger.debug;
      say.call(logger, `tagged ${target.registry}/${target.repository}:${tag}`);
    }
    if (!target.tags.length) refs.push(`${target.registry}/${target.repository}@${digest}`);
  }
  if (tagged > LOGGED_TAGS) logger.info(`tagged ${tagged} references in all`);
  return refs;
}
