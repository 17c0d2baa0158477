import { describe, expect, it } from 'vitest';
import { Authenticator, parseChallenge } from '../../src/registry/auth.js';
import { realClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/logger.js';

describe('parseChallenge', () => {
  it('reads a Bearer challenge with quoted values holding commas', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"',
      ),
    ).toEqual({
      scheme: 'bearer',
      params: {
        realm: 'https://auth.example.com/token',
        service: 'registry.example.com',
        scope: 'repository:a/b:pull,push',
      },
    });
  });

  it('reads Basic and unquoted values', () => {
    expect(parseChallenge('Basic realm=registry')).toEqual({
      scheme: 'basic',
      params: { realm: 'registry' },
    });
  });

  it('returns undefined for nothing', () => {
    expect(parseChallenge(undefined)).toBeUndefined();
    expect(parseChallenge('')).toBeUndefined();
  });
});

describe('Authenticator', () => {
  it('never sends credentials to a plain-http token realm on another host', async () => {
    const sent: string[] = [];
    const auth = new Authenticator({
      host: 'registry.example.com',
      challenge: parseChallenge('Bearer realm="http://auth.example.com/token",service="r"'),
      credentials: { username: 'u', password: 'secret-password' },
      transport: async (req) => {
        sent.push(req.url.toString());
        return { status: 200, headers: {}, body: Buffer.from('{"token":"t"}'), url: req.url };
      },
      logger: silentLogger,
      clock: realClock,
      insecure: false,
    });
    await expect(auth.header(['repository:a:pull,push'])).rejects.toThrow(
      /refusing to send credentials to a plain-http token realm/,
    );
    expect(sent).toEqual([]);
  });
});
