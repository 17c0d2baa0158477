import { describe, expect, it } from 'vitest';
import { askAhead, withAhead } from '../../src/registry/ahead.js';
import { blobCheck, tagCheck } from '../../src/registry/client.js';
import type { HttpRequest, HttpResponse } from '../../src/registry/http.js';

const api = new URL('https://registry.example/');
const digest = `sha256:${'a'.repeat(64)}`;

/** A transport that answers from a table by path and records what was sent. */
function wire(status: Record<string, number>): {
  sent: HttpRequest[];
  send: (req: HttpRequest) => Promise<HttpResponse>;
} {
  const sent: HttpRequest[] = [];
  return {
    sent,
    send: async (req) => {
      sent.push(req);
      return {
        status: status[req.url.pathname] ?? 404,
        headers: {},
        body: Buffer.alloc(0),
        url: req.url,
      };
    },
  };
}

describe('checks asked ahead', () => {
  it('a first check takes the answer asked ahead, once; a verification asks anew', async () => {
    const early = wire({ [`/v2/app/blobs/${digest}`]: 200 });
    const ahead = askAhead([blobCheck(api, 'app', digest)], early.send, Promise.resolve(true));
    const later = wire({ [`/v2/app/blobs/${digest}`]: 404 });
    const send = withAhead(later.send, ahead);
    expect((await send(blobCheck(api, 'app', digest))).status).toBe(200);
    expect(later.sent).toHaveLength(0);
    // The same check again, and a verification of the same URL, go to the registry.
    expect((await send(blobCheck(api, 'app', digest))).status).toBe(404);
    const verify = {
      method: 'HEAD',
      op: 'verify' as const,
      url: blobCheck(api, 'app', digest).url,
    };
    expect((await send(verify)).status).toBe(404);
    expect(later.sent).toHaveLength(2);
  });

  it("any answer asked ahead is the check's, a failure too: the same request is not sent again", async () => {
    const early = wire({ [`/v2/app/blobs/${digest}`]: 503 });
    const ahead = askAhead([blobCheck(api, 'app', digest)], early.send, Promise.resolve(true));
    const later = wire({ [`/v2/app/blobs/${digest}`]: 200 });
    expect((await withAhead(later.send, ahead)(blobCheck(api, 'app', digest))).status).toBe(503);
    const failing = askAhead(
      [blobCheck(api, 'app', digest)],
      () => Promise.reject(new Error('reset')),
      Promise.resolve(true),
    );
    await expect(withAhead(later.send, failing)(blobCheck(api, 'app', digest))).rejects.toThrow(
      'reset',
    );
    expect(later.sent).toHaveLength(0);
  });

  it('nothing is sent ahead unless the connection is multiplexed; a tag is matched with what it accepts', async () => {
    const early = wire({});
    const tag = tagCheck(api, 'app', '1', ['application/vnd.oci.image.manifest.v1+json']);
    const ahead = askAhead([tag], early.send, Promise.resolve(false));
    const later = wire({ '/v2/app/manifests/1': 200 });
    const send = withAhead(later.send, ahead);
    expect((await send(tag)).status).toBe(200);
    expect(early.sent).toHaveLength(0);
    const sent = askAhead([tag], early.send, Promise.resolve(true));
    const other = tagCheck(api, 'app', '1', ['application/vnd.oci.image.index.v1+json']);
    await withAhead(later.send, sent)(other);
    expect(later.sent).toHaveLength(2);
  });
});
