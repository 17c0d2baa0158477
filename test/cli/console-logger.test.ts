import { describe, expect, it } from 'vitest';
import { createConsoleLogger } from '../../src/cli/console-logger.js';

function capture(options: { tty?: boolean; colour?: boolean; quiet?: boolean }) {
  const lines: string[] = [];
  const logger = createConsoleLogger({ verbose: false, write: (l) => lines.push(l), ...options });
  return { logger, lines };
}

describe('the console logger', () => {
  it('colours warnings only when asked (a terminal without NO_COLOR)', () => {
    const coloured = capture({ tty: true, colour: true });
    coloured.logger.warning('careful');
    expect(coloured.lines).toEqual(['\x1b[33mwarning: \x1b[39mcareful']);
    const plain = capture({ tty: true, colour: false });
    plain.logger.warning('careful');
    expect(plain.lines).toEqual(['warning: careful']);
  });

  it('on a terminal, live lines redraw in place below the log; elsewhere there are none', () => {
    const tty = capture({ tty: true });
    tty.logger.live?.('a', 'a: 10%');
    tty.logger.live?.('a', 'a: 20%');
    tty.logger.info('step');
    tty.logger.live?.('a', undefined);
    expect(tty.lines).toEqual([
      '\x1b[2Ka: 10%',
      '\x1b[1A\x1b[0J\x1b[1A',
      '\x1b[2Ka: 20%',
      '\x1b[1A\x1b[0J\x1b[1A',
      'step',
      '\x1b[2Ka: 20%',
      '\x1b[1A\x1b[0J\x1b[1A',
    ]);
    expect(capture({ tty: false }).logger.live).toBeUndefined();
  });

  it('--quiet keeps warnings and drops the rest', () => {
    const quiet = capture({ quiet: true });
    quiet.logger.info('step');
    quiet.logger.warning('careful');
    expect(quiet.lines).toEqual(['warning: careful']);
  });

  it('shows what a registry wrote on one line, and masks secrets', () => {
    const { logger, lines } = capture({});
    logger.secret('hunter22');
    logger.info('message\n::set-output name=x::hunter22');
    expect(lines).toEqual(['message\\n::set-output name=x::***']);
  });
});
