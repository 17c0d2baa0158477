import { describe, expect, it } from 'vitest';
import {
  formatReference,
  isLoopback,
  isSameHost,
  parseReference,
  sameRegistry,
  writtenPort,
} from '../../src/registry/reference.js';

describe('parseReference', () => {
  it.each([
    ['alpine', 'docker.io', 'registry-1.docker.io', 'library/alpine', undefined],
    ['alpine:3.20', 'docker.io', 'registry-1.docker.io', 'library/alpine', '3.20'],
    ['user/app:1', 'docker.io', 'registry-1.docker.io', 'user/app', '1'],
    ['docker.io/alpine', 'docker.io', 'registry-1.docker.io', 'library/alpine', undefined],
    ['index.docker.io/user/app', 'docker.io', 'registry-1.docker.io', 'user/app', undefined],
    ['ghcr.io/org/team/app:v1.2', 'ghcr.io', 'ghcr.io', 'org/team/app', 'v1.2'],
    ['localhost/app:dev', 'localhost', 'localhost', 'app', 'dev'],
    ['127.0.0.1:5000/a/b:c', '127.0.0.1:5000', '127.0.0.1:5000', 'a/b', 'c'],
    ['[::1]:5000/a:b', '[::1]:5000', '[::1]:5000', 'a', 'b'],
  ])('%s', (input, registry, apiHost, repository, tag) => {
    expect(parseReference(input)).toMatchObject({ registry, apiHost, repository, tag });
  });

  it('keeps a digest and formats it back', () => {
    const d = `sha256:${'a'.repeat(64)}`;
    const ref = parseReference(`ghcr.io/o/a:1@${d}`);
    expect(ref.digest).toBe(d);
    expect(formatReference(ref)).toBe(`ghcr.io/o/a:1@${d}`);
  });

  it.each([
    '',
    'Upper/case',
    'ghcr.io/app:bad tag',
    'ghcr.io/',
    'app@sha256:zz',
    'a//b',
    `ghcr.io/a:${'x'.repeat(129)}`,
  ])('refuses %j with a message naming it', (input) => {
    expect(() => parseReference(input)).toThrow(/^tag /);
  });
});

describe('isLoopback', () => {
  it.each([
    ['localhost:5000', true],
    ['127.0.0.1', true],
    ['127.1.2.3:80', true],
    ['[::1]:5000', true],
    ['10.0.0.1:5000', false],
    ['registry.example.com', false],
    ['localhost.example.com', false],
  ])('%s → %s', (host, expected) => {
    expect(isLoopback(host)).toBe(expected);
  });
});

describe('one key per registry host', () => {
  it('keeps the host as written, dials the port written, and compares by one key', () => {
    expect(parseReference('LOCALHOST:5000/app:1').apiHost).toBe('localhost:5000');
    const written = parseReference('Registry.Example.COM:443/team/app');
    expect(written.registry).toBe('Registry.Example.COM:443');
    expect(written.apiHost).toBe('registry.example.com:443');
    expect(written.hostKey).toBe('registry.example.com');
    expect(parseReference('127.0.0.1:443/n/b:v1').apiHost).toBe('127.0.0.1:443');
    expect(parseReference('localhost:80/app').apiHost).toBe('localhost:80');
    expect(sameRegistry('LOCALHOST:443', 'localhost')).toBe(true);
    expect(sameRegistry('localhost:5000', 'localhost')).toBe(false);
    expect(writtenPort('[::1]:443')).toBe('443');
    expect(writtenPort('[::1]')).toBeUndefined();
  });

  it('compares a URL with a host as the browser does: case and default ports', () => {
    expect(isSameHost(new URL('https://localhost/v2/'), 'LOCALHOST:443')).toBe(true);
    expect(isSameHost(new URL('http://localhost/v2/'), 'localhost:80')).toBe(true);
    expect(isSameHost(new URL('http://localhost:5000/v2/'), 'Localhost:5000')).toBe(true);
    expect(isSameHost(new URL('https://storage.example.com/x'), 'registry.example.com')).toBe(
      false,
    );
    expect(isSameHost(new URL('http://localhost:5001/'), 'localhost:5000')).toBe(false);
  });
});
