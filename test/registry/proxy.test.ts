import { describe, expect, it } from 'vitest';
import {
  proxyCredentials,
  proxyFor,
  proxySecrets,
  proxySettingsFrom,
} from '../../src/registry/proxy.js';

const via = (env: NodeJS.ProcessEnv, url: string): string | undefined =>
  proxyFor(new URL(url), proxySettingsFrom(env))?.host;

describe('proxy settings as curl and Go read them', () => {
  const env = { HTTPS_PROXY: 'http://proxy:3128', HTTP_PROXY: 'proxy:8080' };

  it('https through HTTPS_PROXY, http through HTTP_PROXY (a missing scheme is http)', () => {
    expect(via(env, 'https://registry.example.com/v2/')).toBe('proxy:3128');
    expect(via(env, 'http://registry.example.com/v2/')).toBe('proxy:8080');
    expect(via({ https_proxy: 'http://low:1' }, 'https://r.example/')).toBe('low:1');
    expect(
      via({ HTTPS_PROXY: 'http://up:1', https_proxy: 'http://low:1' }, 'https://r.example/'),
    ).toBe('up:1');
    expect(via({}, 'https://r.example/')).toBeUndefined();
  });

  it.each([
    ['*', 'https://anything.example.com/', true],
    ['example.com', 'https://example.com/', true],
    ['example.com', 'https://reg.example.com/', true],
    ['example.com', 'https://notexample.com/', false],
    ['.example.com', 'https://reg.example.com/', true],
    ['.example.com', 'https://example.com/', false],
    ['*.example.com', 'https://reg.example.com/', true],
    ['reg.example.com:5000', 'https://reg.example.com:5000/', true],
    ['reg.example.com:5000', 'https://reg.example.com/', false],
    ['10.1.2.3', 'https://10.1.2.3:5000/', true],
    ['10.0.0.0/8', 'https://10.9.8.7/', true],
    ['10.0.0.0/8', 'https://11.0.0.1/', false],
    ['[::2]:443', 'https://[::2]/', true],
    ['fd00::/8', 'https://[fd12::1]/', true],
    // As Go reads them: a trailing dot is kept, and only commas separate entries.
    ['EXAMPLE.com', 'https://Reg.Example.COM/', true],
    ['registry.test.', 'https://registry.test/', false],
    ['registry.test.', 'https://registry.test./', true],
    ['registry.test', 'https://registry.test./', false],
    ['a.com, b.com', 'https://b.com/', true],
    ['a.com b.com', 'https://b.com/', false],
    ['a.com b.com', 'https://a.com/', false],
    ['[::1]', 'https://[::2]/', false],
    ['::2', 'https://[::2]:5000/', true],
    ['0:0:0:0:0:0:0:2', 'https://[::2]/', true],
    ['::ffff:10.1.2.3', 'https://10.1.2.3/', true],
    ['10.1.2.3:443', 'https://10.1.2.3/', true],
    ['10.1.2.3:5000', 'https://10.1.2.3/', false],
    [':5000', 'https://a.com:5000/', false],
    ['*.example.com:5000', 'https://example.com:5000/', false],
    ['foo.localhost', 'https://foo.localhost/', true],
  ])('NO_PROXY=%s for %s: direct %s', (noProxy, url, direct) => {
    expect(via({ ...env, NO_PROXY: noProxy }, url) === undefined).toBe(direct);
  });

  it('loopback is never proxied (a service container on localhost)', () => {
    for (const url of [
      'https://localhost:5000/',
      'https://127.0.0.1/',
      'https://127.9.9.9/',
      'https://[::1]:443/',
    ])
      expect(via(env, url)).toBeUndefined();
    // As Go: a name under localhost is a name like any other.
    expect(via(env, 'https://foo.localhost/')).toBe('proxy:3128');
  });

  it('credentials are percent-decoded for the proxy and masked in every form', () => {
    const proxy = new URL('http://me%40corp:p%40ss%3Aw0rd@proxy:3128');
    expect(proxyCredentials(proxy)).toEqual({ user: 'me@corp', password: 'p@ss:w0rd' });
    const secrets = proxySecrets({ HTTPS_PROXY: 'http://me%40corp:p%40ss%3Aw0rd@proxy:3128' });
    expect(secrets).toContain('p%40ss%3Aw0rd');
    expect(secrets).toContain('p@ss:w0rd');
    expect(proxySecrets({ HTTPS_PROXY: 'http://proxy:3128' })).toEqual([]);
  });

  it.each([
    ['an unencoded @', 'http://me:p@ss@proxy:3128', 'p@ss'],
    ['an unencoded : and @', 'http://me:a:b@c@proxy:3128/', 'a:b@c'],
    ['no scheme', 'me:s3cr@t@proxy:3128', 's3cr@t'],
  ])('a password with %s is masked in its real form and as sent', (_what, url, password) => {
    const secrets = proxySecrets({ HTTPS_PROXY: url });
    expect(secrets).toContain(password);
    expect(secrets).toContain(encodeURIComponent(password));
    expect(secrets).toContain(Buffer.from(`me:${password}`).toString('base64'));
    // The proxy gets that same password.
    const proxy = proxySettingsFrom({ HTTPS_PROXY: url }).https!;
    expect(proxyCredentials(proxy)?.password).toBe(password);
  });

  it('a proxy URL that cannot be used is refused without echoing it', () => {
    expect(() => proxySettingsFrom({ HTTPS_PROXY: 'socks5://u:secret@p:1' })).toThrow(/socks5/);
    expect(() => proxySettingsFrom({ HTTPS_PROXY: 'http://u:secret@[bad' })).toThrow(
      /^HTTPS_PROXY: not a proxy URL$/,
    );
  });
});
