import { describe, expect, it } from 'vitest';
import { formatReference, isLoopback, parseReference } from '../../src/registry/reference.js';

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
