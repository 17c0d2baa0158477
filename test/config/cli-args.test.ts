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
    [['stray'], /"stray" needs a target: oci-push push SOURCE REF/],
    [['diagnose'], /diagnose needs a reference/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(message);
  });

  it('reads every boolean flag three ways', () => {
    for (const argv of [
      ['--insecure'],
      ['--insecure=true'],
      ['--insecure', 'true'],
      ['--insecure', 'yes'],
    ])
      expect(parseArgs([...argv, '--layout', 'l', '--tags', 't']).inputs.insecure).toBe(
        argv[1] === undefined ? 'true' : argv[1] === 'yes' ? 'yes' : 'true',
      );
    expect(parseArgs(['--insecure', 'false', '--layout', 'l']).inputs.insecure).toBe('false');
    expect(parseArgs(['--summary=false', '--layout', 'l']).inputs.summary).toBe('false');
    expect(() => parseArgs(['--insecure=maybe'])).toThrow(/--insecure: expected true or false/);
    expect(parseArgs(['--json', 'false', '--layout', 'l']).json).toBe(false);
  });

  it('takes the short form: push SOURCE REF [REF…], with docker:// and podman:// sources', () => {
    expect(parseArgs(['push', './layout', 'r.io/a:1', 'r.io/a:2']).inputs).toMatchObject({
      layout: './layout',
      tags: 'r.io/a:1\nr.io/a:2',
    });
    expect(parseArgs(['push', 'podman://app:dev', 'localhost:5000/app:dev']).inputs).toMatchObject({
      image: 'app:dev',
      engine: 'podman',
      tags: 'localhost:5000/app:dev',
    });
    // skopeo's transports: docker:// is a registry there, so it is refused as a source.
    expect(() => parseArgs(['push', 'docker://app', 'r.io/a'])).toThrow(
      /docker:\/\/ names a registry.*docker-daemon:app/,
    );
    expect(parseArgs(['push', 'docker-daemon:app:1', 'r.io/a']).inputs).toMatchObject({
      image: 'app:1',
      engine: 'docker',
    });
    expect(parseArgs(['push', 'containers-storage:app', 'r.io/a']).inputs).toMatchObject({
      image: 'app',
      engine: 'podman',
    });
    expect(parseArgs(['push', 'oci:./dir:v1', 'r.io/a']).inputs.layout).toBe('./dir:v1');
    expect(parseArgs(['push', 'oci-archive:/t/img.tar', 'r.io/a']).inputs.layout).toBe(
      '/t/img.tar',
    );
    expect(parseArgs(['push', 'docker-archive:/t/s.tar', 'r.io/a']).inputs.layout).toBe('/t/s.tar');
    expect(parseArgs(['push', 'oci:d', 'docker://r.io/a:1']).inputs.tags).toBe('docker://r.io/a:1');
    expect(
      parseArgs(['push', 'oci:d', 'r.io/a', '--platform', 'linux/arm64']).inputs.platforms,
    ).toBe('linux/arm64');
    expect(() => parseArgs(['push', '--layout', 'l', 'extra', 'r.io/a'])).toThrow(
      /the source is given by a flag already/,
    );
  });

  it('--help names every input of action.yml, aligned', async () => {
    const { USAGE } = await import('../../src/config/cli-args.js');
    const { readFileSync } = await import('node:fs');
    const { parse } = await import('yaml');
    const action = parse(readFileSync(new URL('../../action.yml', import.meta.url), 'utf8')) as {
      inputs: Record<string, unknown>;
    };
    for (const input of Object.keys(action.inputs))
      expect(USAGE).toMatch(new RegExp(`^  (-[a-z], )?--${input}\\b`, 'm'));
    const columns = USAGE.split('\n')
      .filter((l) => /^ {2}(-[a-z], )?--/.test(l))
      .map((l) => /^ {2}(?:-[a-z], )?--\S+(?: \S+)?\s+/.exec(l)![0].length);
    expect(new Set(columns).size).toBe(1);
  });

  it('takes the short flags of other tools: -u, -p, -q, -h, -v', () => {
    const args = parseArgs(['push', 'l', 'a/b:1', '-u', 'me', '-p', 'pw', '-q']);
    expect(args.inputs).toMatchObject({ username: 'me', password: 'pw' });
    expect(args.quiet).toBe(true);
    expect(parseArgs(['-h']).help).toBe(true);
    expect(parseArgs(['-v']).version).toBe(true);
    expect(() => parseArgs(['push', 'l', 'a/b:1', '-u'])).toThrow(/--username needs a value/);
  });

  it("suggests the flag meant: a swap of two letters, and other tools' flags that have an equivalent", () => {
    const said = (flag: string): string => {
      try {
        parseArgs(['push', 'l', 'a/b:1', flag]);
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    };
    expect(said('--quite')).toBe('unknown flag --quite (did you mean --quiet?)');
    expect(said('--tls-verify=false')).toContain('here: --insecure, for --tls-verify=false');
    expect(said('--dest-creds=u:p')).toContain('here: --username USER --password-stdin');
    expect(said('--authfile=x')).toContain('REGISTRY_AUTH_FILE');
    expect(said('--nope')).toBe('unknown flag --nope');
  });
});
