import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/util/logger.js';
import { Authenticator, withAuth } from '../../src/registry/auth.js';
import type { HttpRequest, HttpResponse, Transport } from '../../src/registry/http.js';
import { realClock } from '../../src/util/clock.js';

const ok = (
  req: HttpRequest,
  status = 200,
  headers: Record<string, string> = {},
): HttpResponse => ({
  status,
  headers,
  body: Buffer.from(JSON.stringify({ token: `tok-${Math.random()}`, expires_in: 300 })),
  url: req.url,
});

function setup() {
  const tokenRequests: HttpRequest[] = [];
  const tokenTransport: Transport = async (req) => {
    tokenRequests.push(req);
    return ok(req);
  };
  const auth = new Authenticator({
    host: 'reg.example.com',
    credentials: { username: 'u', password: 'p' },
    transport: tokenTransport,
    logger: silentLogger,
    clock: realClock,
    insecure: false,
  });
  auth.challenge = {
    scheme: 'bearer',
    params: { realm: 'https://auth.example.com/token', service: 'reg' },
  };
  return { auth, tokenRequests };
}

describe('withAuth', () => {
  it('never sends Authorization to another host, even when the caller set one', async () => {
    const { auth } = setup();
    const seen: HttpRequest[] = [];
    const send = withAuth(async (req) => (seen.push(req), ok(req)), auth);
    await send({
      method: 'PUT',
      url: new URL('https://storage.example.net/upload?sig=x'),
      headers: { authorization: 'Bearer leaked' },
    });
    expect(seen[0]?.headers?.authorization).toBeUndefined();
    await send({
      method: 'HEAD',
      url: new URL('https://reg.example.com/v2/a/blobs/sha256:1'),
      scopes: ['repository:a:pull,push'],
    });
    expect(seen[1]?.headers?.authorization).toMatch(/^Bearer tok-/);
  });

  it('on a 401 mid-push refreshes the token once and repeats the request, rereading the body', async () => {
    const { auth, tokenRequests } = setup();
    let calls = 0;
    let bodies = 0;
    const send = withAuth(async (req) => {
      calls++;
      req.body?.();
      return ok(
        req,
        calls === 1 ? 401 : 201,
        calls === 1
          ? {
              'www-authenticate':
                'Bearer realm="https://auth.example.com/token",service="reg",error="invalid_token"',
            }
          : {},
      );
    }, auth);
    const res = await send({
      method: 'PUT',
      url: new URL('https://reg.example.com/v2/a/manifests/1'),
      scopes: ['repository:a:pull,push'],
      body: () => (bodies++, 'x'),
    });
    expect(res.status).toBe(201);
    expect(calls).toBe(2);
    expect(bodies).toBe(2);
    expect(tokenRequests).toHaveLength(2);
  });

  it('returns the second 401 instead of looping', async () => {
    const { auth, tokenRequests } = setup();
    let calls = 0;
    const send = withAuth(
      async (req) => (
        calls++,
        ok(req, 401, { 'www-authenticate': 'Bearer realm="https://auth.example.com/token"' })
      ),
      auth,
    );
    const res = await send({
      method: 'GET',
      url: new URL('https://reg.example.com/v2/'),
      scopes: ['repository:a:pull'],
    });
    expect(res.status).toBe(401);
    expect(calls).toBe(2);
    expect(tokenRequests).toHaveLength(2);
  });
});
