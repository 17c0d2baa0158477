import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/config/cli-args.js';

describe('parseArgs', () => {
  it('reads boolean flags bare, values after a space or =, and repeated tags', () => {
    const args = parseArgs([
      '--layout',
      'l',
      '--tags',
      'a/b:1',
      '--tags=a/b:2',
      '--insecure',
      '--push-by-digest',
      '--json',
      '--retries=3',
    ]);
    expect(args).toMatchObject({
      command: 'push',
      json: true,
      inputs: {
        layout: 'l',
        tags: 'a/b:1\na/b:2',
        insecure: 'true',
        'push-by-digest': 'true',
        retries: '3',
      },
    });
  });

  it('takes diagnose with its reference and every diagnose flag', () => {
    expect(
      parseArgs(['diagnose', 'reg.example.com/a', '--max-probe', '--json', '--verbose']),
    ).toMatchObject({
      command: 'diagnose',
      ref: 'reg.example.com/a',
      maxProbe: true,
      json: true,
      verbose: true,
    });
  });

  it.each([
    [['--chunk-size', '--json'], /flag --chunk-size needs a value/],
    [['--layout'], /flag --layout needs a value/],
    [['--nope'], /unknown flag --nope/],
    [['--layout', 'a', '--layout', 'b'], /given more than once/],
    [['stray'], /unexpected argument "stray"/],
    [['diagnose'], /diagnose needs a reference/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(message);
  });
});
