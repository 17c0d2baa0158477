import type { Logger } from '../util/logger.js';
import { SecretMasker } from '../report/secrets.js';
import { oneLine } from '../util/text.js';

export { SecretMasker };

export interface ConsoleLoggerOptions {
  verbose: boolean;
  /** Only warnings (and what main prints itself): no progress, no step lines. */
  quiet?: boolean;
  /** Writes one line; a newline is added. */
  write?: (line: string) => void;
  /** stderr is a terminal: live lines redraw in place. */
  tty?: boolean;
  /** Colour (a terminal, and NO_COLOR unset). */
  colour?: boolean;
}

export type ConsoleLogger = Logger & { masker: SecretMasker };

/**
 * The CLI's logger: lines on stderr, secrets masked, debug only when verbose. On a terminal, each
 * running upload has a live line at the bottom that redraws in place; elsewhere those are periodic
 * lines, as in a log.
 */
export function createConsoleLogger(
  options: ConsoleLoggerOptions,
  masker = new SecretMasker(),
): ConsoleLogger {
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const live = new Map<string, string>();
  let drawn = 0;
  // Erasing the live block is cursor movement: only on a terminal, where it is shown, not logged.
  const erase = (): void => {
    if (!drawn) return;
    write(`\x1b[${drawn}A\x1b[0J\x1b[1A`);
    drawn = 0;
  };
  const draw = (): void => {
    for (const line of live.values()) write(`\x1b[2K${line}`);
    drawn = live.size;
  };
  const yellow = (t: string): string => (options.colour ? `\x1b[33m${t}\x1b[39m` : t);
  const emit = (prefix: string, message: string): void => {
    if (options.tty) erase();
    write(masker.mask(`${prefix}${oneLine(masker.mask(message))}`));
    if (options.tty) draw();
  };
  const quiet = options.quiet ?? false;
  return {
    masker,
    debug: (m) => {
      if (options.verbose) emit('debug: ', m);
    },
    info: (m) => {
      if (!quiet) emit('', m);
    },
    warning: (m) => emit(yellow('warning: '), m),
    secret: (v) => void masker.add(v),
    group: async (name, fn) => {
      if (!quiet) emit('== ', name);
      return fn();
    },
    ...(options.tty && !quiet
      ? {
          live: (id: string, line: string | undefined) => {
            erase();
            if (line === undefined) live.delete(id);
            else live.set(id, masker.mask(oneLine(masker.mask(line))));
            draw();
          },
        }
      : {}),
  };
}
