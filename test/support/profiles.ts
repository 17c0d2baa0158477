/**
 * Registry profiles for the fault proxy: each reproduces, in front of the real distribution, the
 * documented wire behaviour of one hosted registry (sources in ../shared/registry-behaviours.md,
 * summarised in docs/registries.md). A profile only changes what that registry is known to change:
 * everything else is distribution's own answer.
 */

export type ProfileName =
  | 'docker-hub'
  | 'ghcr'
  | 'ecr'
  | 'gar'
  | 'gcr'
  | 'acr'
  | 'quay'
  | 'harbor'
  | 'gitlab'
  | 'gitea'
  | 'zot'
  | 'r2'
  | 'artifactory-old';

export interface ProfileRequest {
  method: string;
  url: URL;
  contentLength?: number;
  contentRange?: string;
  /** The upload id when the path is an upload session (`/blobs/uploads/<id>`), as the client sent it. */
  session?: string;
}

export interface ProfileAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface Profile {
  /** Which upstream it needs: a registry that redirects blob reads to a storage host. */
  redirects?: boolean;
  /** A token registry whose token service refuses a mount source's scope (Docker Hub). */
  refusesMountScopes?: boolean;
  /** Answer before forwarding. */
  before?(req: ProfileRequest): ProfileAnswer | undefined;
  /** Rewrite the answer (status and headers) after forwarding. */
  after?(req: ProfileRequest, up: { status: number; headers: Record<string, string> }): void;
  /** Upload Locations the client sees: `stable` (one URL a session), `gar` (outside /v2/). */
  sessions?: 'stable' | 'gar' | 'r2';
  /** Blob reads answer 302 to a relative download alias outside /v2/ (GAR). */
  downloadAliases?: boolean;
}

const MiB = 1 << 20;
const json = (code: string, message: string, detail?: unknown): string =>
  JSON.stringify({ errors: [{ code, message, ...(detail ? { detail } : {}) }] });

/** Bytes stored per session, as the client's session ids name them. */
function sessionBytes(): Map<string, number[]> {
  return new Map();
}

export function makeProfile(name: ProfileName): Profile {
  switch (name) {
    case 'docker-hub': {
      let n = 0;
      return {
        refusesMountScopes: true,
        before: (): ProfileAnswer | undefined => {
          // One 429 early in the push, with Retry-After in seconds, as Hub's overall limit answers.
          if (++n === 3)
            return {
              status: 429,
              headers: {
                'retry-after': '1',
                'content-type': 'application/json',
                'ratelimit-limit': '100;w=21600',
                'ratelimit-remaining': '0;w=21600',
                'docker-ratelimit-source': '127.0.0.1',
              },
              body: json('TOOMANYREQUESTS', 'You have reached your pull rate limit.'),
            };
          return undefined;
        },
        after: (_req, up) => {
          up.headers['ratelimit-limit'] = '100;w=21600';
          up.headers['ratelimit-remaining'] = '99;w=21600';
          up.headers['docker-ratelimit-source'] = '127.0.0.1';
        },
      };
    }
    case 'ghcr':
      return {
        redirects: true,
        before: (req) =>
          req.method === 'PATCH' && (req.contentLength ?? 0) > 4 * MiB
            ? {
                status: 416,
                headers: { 'content-type': 'application/json' },
                body: json(
                  'RANGE_INVALID',
                  'the request body is too large and exceeds the maximum permissible limit of 4.00MiB',
                ),
              }
            : undefined,
      };
    case 'ecr': {
      const parts = sessionBytes();
      const firstRange = new Map<string, string>();
      return {
        sessions: 'stable',
        before: (req) => {
          // A mount works only for blobs a manifest in the source references: answer as a plain POST.
          if (req.method === 'POST' && req.url.searchParams.has('mount')) {
            req.url.searchParams.delete('mount');
            req.url.searchParams.delete('from');
          }
          if (req.method === 'PATCH' && req.session) {
            const earlier = parts.get(req.session) ?? [];
            const last = earlier[earlier.length - 1];
            if (last !== undefined && last < 5 * MiB)
              return {
                status: 400,
                headers: { 'content-type': 'application/json' },
                body: json(
                  'BLOB_UPLOAD_INVALID',
                  'LayerPartTooSmallException: All layer parts except the last part should be at least 5MB',
                ),
              };
            parts.set(req.session, [...earlier, req.contentLength ?? 0]);
          }
          return undefined;
        },
        after: (req, up) => {
          if (req.method === 'PATCH' && up.status === 202) {
            up.status = 201;
            const session = req.session ?? '';
            if (!firstRange.has(session)) firstRange.set(session, up.headers.range ?? '');
            up.headers.range = firstRange.get(session) ?? '';
          }
        },
      };
    }
    case 'gar':
      return {
        sessions: 'gar',
        downloadAliases: true,
        before: (req) =>
          req.method === 'PATCH'
            ? {
                status: 400,
                headers: { 'content-type': 'application/json' },
                body: json('UNSUPPORTED', 'Artifact Registry does not support chunked uploads'),
              }
            : undefined,
      };
    case 'gcr':
      return {
        after: (req, up) => {
          if (req.method === 'PATCH' && up.status === 202) up.status = 204;
        },
      };
    case 'acr':
      return {
        redirects: true,
        sessions: 'r2',
        before: (req) =>
          req.contentRange?.startsWith('bytes')
            ? {
                status: 400,
                headers: { 'content-type': 'application/json' },
                body: json('BLOB_UPLOAD_INVALID', 'the Content-Range header format is invalid'),
              }
            : undefined,
      };
    case 'quay':
      return {
        sessions: 'stable',
        after: (req, up) => {
          if (req.method === 'POST' && up.status === 202) up.headers.range = 'bytes=0--1';
          if (req.method === 'GET' && req.session) {
            const m = /^(\d+)-(\d+)$/.exec(up.headers.range ?? '');
            if (m) up.headers.range = `bytes=0-${Number(m[2]) + 1}`;
          }
          if (req.method === 'PUT' && req.session && up.status === 201) up.status = 202;
        },
      };
    case 'harbor':
      return {
        redirects: true,
        before: (req) =>
          req.method === 'POST' && req.url.searchParams.has('from')
            ? {
                status: 401,
                headers: {
                  'content-type': 'application/json',
                  'www-authenticate': 'Basic realm="harbor"',
                },
                body: json(
                  'UNAUTHORIZED',
                  `project ${req.url.searchParams.get('from')?.split('/')[0]} not found`,
                ),
              }
            : undefined,
      };
    case 'gitlab': {
      const offsets = new Map<string, number>();
      return {
        redirects: true,
        before: (req) => {
          if (req.method !== 'PATCH' || !req.session) return undefined;
          const start = Number(/^(\d+)-/.exec(req.contentRange ?? '')?.[1] ?? NaN);
          const at = offsets.get(req.session) ?? 0;
          if (start !== at)
            return {
              status: 416,
              headers: { 'content-type': 'application/json', range: `0-${Math.max(0, at - 1)}` },
              body: json('CONTENT_RANGE_INVALID', 'content range out of order'),
            };
          offsets.set(req.session, at + (req.contentLength ?? 0));
          return undefined;
        },
      };
    }
    case 'gitea':
      return {
        sessions: 'stable',
        before: (req) =>
          req.contentRange?.startsWith('bytes')
            ? {
                status: 400,
                headers: { 'content-type': 'application/json' },
                body: json('BLOB_UPLOAD_INVALID', 'Content-Range header is invalid'),
              }
            : undefined,
        after: (req, up) => {
          if (req.method === 'GET' && req.session) {
            const m = /^(\d+)-(\d+)$/.exec(up.headers.range ?? '');
            if (m) up.headers.range = `0-${Number(m[2]) + 1}`;
            delete up.headers.location;
          }
        },
      };
    case 'zot':
      return {
        sessions: 'stable',
        after: (req, up) => {
          if (req.method === 'POST' && up.status === 202) up.headers.range = '0-0';
        },
      };
    case 'r2': {
      const sizes = sessionBytes();
      return {
        sessions: 'r2',
        before: (req) => {
          if (req.method !== 'PATCH' || !req.session) return undefined;
          const earlier = sizes.get(req.session) ?? [];
          const size = req.contentLength ?? 0;
          // Non-final chunks: at least the minimum and all the same size; a smaller one may be
          // the last, so it is judged when the next one comes.
          const previous = earlier[earlier.length - 1];
          if (
            previous !== undefined &&
            (previous < 5 * MiB || (earlier.length > 1 && previous !== earlier[0]))
          )
            return {
              status: 416,
              headers: { 'content-type': 'application/json' },
              body: json('RANGE_ERROR', 'chunks must be at least 5242880 bytes and of equal size'),
            };
          sizes.set(req.session, [...earlier, size]);
          return undefined;
        },
        after: (req, up) => {
          if (req.method === 'POST' && up.status === 202) {
            up.headers['oci-chunk-min-length'] = String(5 * MiB);
            up.headers['oci-chunk-max-length'] = '100000000';
          }
        },
      };
    }
    case 'artifactory-old': {
      const patched = new Set<string>();
      return {
        before: (req) => {
          if (req.method === 'PATCH' && req.session) patched.add(req.session);
          if (
            req.method === 'PUT' &&
            req.session &&
            (req.contentLength ?? 0) > 0 &&
            !patched.has(req.session)
          )
            return {
              status: 404,
              headers: { 'content-type': 'application/json' },
              body: json('BLOB_UNKNOWN', 'blob unknown to registry'),
            };
          return undefined;
        },
      };
    }
  }
}

export const PROFILES: ProfileName[] = [
  'docker-hub',
  'ghcr',
  'ecr',
  'gar',
  'gcr',
  'acr',
  'quay',
  'harbor',
  'gitlab',
  'gitea',
  'zot',
  'r2',
  'artifactory-old',
];
