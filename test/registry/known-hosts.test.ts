import { describe, expect, it } from 'vitest';
import { HostProfile } from '../../src/registry/host-profile.js';
import { quirksOf } from '../../src/registry/known-hosts.js';

const MiB = 1 << 20;
const profileOf = (host: string): HostProfile => new HostProfile(quirksOf(host));

describe("known hosts' quirks fill the profile at the start", () => {
  it('GHCR: chunks of at most 4 MiB', () => {
    expect(profileOf('ghcr.io').chunkSize(50 * MiB)).toBe(4 * MiB);
    expect(profileOf('GHCR.io:443').chunkSize(1 * MiB)).toBe(1 * MiB);
  });

  it('ECR and R2: parts of at least 5 MiB', () => {
    expect(profileOf('123456789012.dkr.ecr.eu-west-1.amazonaws.com').chunkSize(MiB)).toBe(5 * MiB);
    expect(profileOf('acct.r2.cloudflarestorage.com').chunkSize(2 * MiB)).toBe(5 * MiB);
  });

  it('Artifact Registry: no chunked uploads, so a refused body never switches to chunks', () => {
    const gar = profileOf('europe-west1-docker.pkg.dev');
    expect(gar.chunkedUploads).toBe(false);
    gar.monolithicRefused(10 * MiB);
    expect(gar.prefersChunks(20 * MiB)).toBe(false);
  });

  it('any other host starts from nothing, and learns', () => {
    const other = profileOf('registry.example.com');
    expect(other.chunkSize(50 * MiB)).toBe(50 * MiB);
    expect(other.chunkedUploads).toBe(true);
    other.chunkRefusedAsTooLarge(8 * MiB);
    expect(other.chunkSize(50 * MiB)).toBe(4 * MiB);
  });

  it('what a push learns adds to what is known: a refused size below the known maximum wins', () => {
    const ghcr = profileOf('ghcr.io');
    ghcr.chunkRefusedAsTooLarge(2 * MiB);
    expect(ghcr.chunkSize(50 * MiB)).toBe(1 * MiB);
  });
});
