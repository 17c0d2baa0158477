import type { Logger } from '../util/logger.js';
import { oneLine } from '../util/text.js';

export interface ConsoleLoggerOptions {
  verbose: boolean;
  write?: (line: string) => void;
}

/** Replaces every registered secret in a line; longest first, so no secret leaks through a shorter one. */
export class SecretMasker {
  private secrets: string[] = [];

  add(value: string): void {
    if (value.length < 3 || this.secrets.includes(value)) return;
    this.secrets.push(value);
    this.secrets.sort((a, b) => b.length - a.length);
  }

  mask(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join('***');
    return out;
  }
}

/** The CLI's logger: lines on stderr, secrets masked, debug only when verbose. */
export function createConsoleLogger(
  options: ConsoleLoggerOptions,
  masker = new SecretMasker(),
): Logger & { masker: SecretMasker } {
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const emit = (prefix: string, message: string): void =>
    write(masker.mask(`${prefix}${oneLine(message)}`));
  return {
    masker,
    debug: (m) => {
      if (options.verbose) emit('debug: ', m);
    },
    info: (m) => emit('', m),
    warning: (m) => emit('warning: ', m),
    secret: (v) => masker.add(v),
    group: async (name, fn) => {
      emit('== ', name);
      return fn();
    },
  };
}
