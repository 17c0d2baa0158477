import type { Logger } from '../util/logger.js';
import { TagElsewhereError } from '../transfer/manifest.js';
import type { Target } from './targets.js';

const LOGGED_TAGS = 5;

/**
 * Writes a tag: resolves once the PUT is answered, with its read-back still on its way; or says the
 * tag already pointed at the image (`unchanged`), read back before the push wrote anything.
 */
export type PutTag = (
  target: Target,
  tag: string,
) => Promise<{ readBack: Promise<string>; unchanged?: boolean }>;

/** A tag written and being read back, or a target without tags (its ref is the digest's). */
type Written =
  { target: Target; tag: string; readBack: Promise<string>; unchanged?: boolean } | { ref: string };

/**
 * The last step of every push: set each target's tags, in order. Each tag is read back (the digest
 * the registry serves it as) while the next one is written, so N tags cost N round trips and one,
 * not 2N. Every tag written is read back before this returns or throws; `refs` gets each confirmed
 * one in order (`host/repo:tag@digest`, or `host/repo@digest` for a target without tags), so a
 * failure on a later tag still reports the earlier ones. A tag that reads back with another digest
 * goes to `elsewhere` instead, with the digest it points at. The first failure is thrown.
 */
export async function applyTags(
  targets: readonly Target[],
  digest: string,
  put: PutTag,
  logger: Logger,
  refs: string[],
  elsewhere: string[] = [],
): Promise<string[]> {
  const written: Written[] = [];
  let failure: { error: unknown } | undefined;
  try {
    for (const target of targets) {
      for (const tag of target.tags) {
        const { readBack, unchanged } = await put(target, tag);
        // Settled below, in order; never an unhandled rejection meanwhile.
        readBack.catch(() => undefined);
        written.push({ target, tag, readBack, unchanged });
      }
      if (!target.tags.length)
        written.push({ ref: `${target.registry}/${target.repository}@${digest}` });
    }
  } catch (error) {
    failure = { error };
  }
  const confirmed = await confirmInOrder(written, refs, elsewhere, logger);
  if (!failure && confirmed.failure) failure = confirmed.failure;
  if (failure) throw failure.error;
  return refs;
}

/** Each written tag's read-back, in order: confirmed ones to `refs`, the first failure kept. */
async function confirmInOrder(
  written: Written[],
  refs: string[],
  elsewhere: string[],
  logger: Logger,
): Promise<{ failure?: { error: unknown } }> {
  let failure: { error: unknown } | undefined;
  let tagged = 0;
  for (const entry of written) {
    if ('ref' in entry) {
      refs.push(entry.ref);
      continue;
    }
    const { target, tag, readBack, unchanged } = entry;
    const name = `${target.registry}/${target.repository}:${tag}`;
    try {
      refs.push(`${name}@${await readBack}`);
    } catch (error) {
      // The tag was set, to something else: say where it points, never list it as pushed.
      if (error instanceof TagElsewhereError) elsewhere.push(`${name}@${error.served}`);
      failure ??= { error: error instanceof TagElsewhereError ? error.error : error };
      continue;
    }
    // A line a tag for the first few; a push to hundreds of repositories logs a count instead.
    const say = ++tagged <= LOGGED_TAGS ? logger.info : logger.debug;
    say.call(logger, `tagged ${name}${unchanged ? ' (it already pointed at this image)' : ''}`);
  }
  if (tagged > LOGGED_TAGS) logger.info(`tagged ${tagged} references in all`);
  return { failure };
}
