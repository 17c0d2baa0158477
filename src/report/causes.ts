import type { CauseId } from '../registry/failure.js';
import { CHUNK_FLOOR } from '../transfer/policy.js';
import { formatSize } from '../util/format.js';

export type { CauseId } from '../registry/failure.js';

export interface Cause {
  id: CauseId;
  /** The probable cause, as one sentence. */
  title: string;
  /** What to change. */
  fix: string;
}

/** Facts a cause text may name. */
export interface CauseFacts {
  /** The sizes the path refused as too large: the smallest (a chunk at the floor), the largest. */
  smallestRefused?: number;
  largestRefused?: number;
  /** The host an upload Location named that the runner could not reach (already escaped text). */
  locationHost?: string;
  /** The proxy a request went through: scheme, host and port (no credentials). */
  proxy?: string;
  /** The registry that refused (host[:port], escaped), and the one the username and password are for. */
  registry?: string;
  credentialsRegistry?: string;
}

/**
 * The cause texts, shared by the summary, the annotations, the CLI and `oci-push diagnose`. Which
 * cause applies is decided by the failure rules (src/registry/failure.ts), never here.
 */
export const CAUSES: Record<CauseId, Omit<Cause, 'id'>> = {
  'corrupt-layout': {
    title:
      'The bytes of the blob do not match its digest: the registry refused them (DIGEST_INVALID) and the local file hashes differently, so the local layout is corrupt, or the file changed during the push.',
    fix: 'Export or build the image again, and make sure nothing writes to the layout while it is pushed.',
  },
  'bytes-changed': {
    title:
      'The registry refused the bytes it received (DIGEST_INVALID), though the local file hashes to its digest: they changed on the way (a proxy or middlebox that alters request bodies) or the registry stored them wrong.',
    fix: 'oci-push sends the blob again within {{retries}}; if it keeps failing, push without the proxy in between, or ask the registry operator to check its storage.',
  },
  'cloudflare-body-limit': {
    title:
      "Cloudflare refused the request body as too large (413): Cloudflare's plan limits request bodies to 100 MB (Free and Pro), 200 MB (Business) or 500 MB (Enterprise).",
    fix: 'Use {{upload-mode: auto}} (the default) or {{upload-mode: chunked}}, with a {{chunk-size}} below the plan limit, such as the default 50MiB.',
  },
  'nginx-body-limit': {
    title:
      'nginx refused the request body as too large (413): its `client_max_body_size` is smaller than the blob.',
    fix: 'Raise `client_max_body_size` on the proxy (`client_max_body_size 0;` disables the check), or use {{upload-mode: auto}} (the default) so oci-push sends smaller chunks.',
  },
  'proxy-body-limit': {
    title:
      'Something between the runner and the registry refused the request body as too large (413, or 416 "too large").',
    fix: "Raise the proxy's body size limit, or use {{upload-mode: auto}} (the default) so oci-push sends smaller chunks.",
  },
  'body-limit-at-floor': {
    title:
      'The path to the registry refused the request body as too large even at the smallest chunk oci-push sends: no chunk size can get through.',
    fix: "Raise the body size limit of the proxy in front of the registry (nginx: `client_max_body_size`); oci-push's chunk sizes cannot go lower.",
  },
  'chunk-window': {
    title:
      'The registry refused the chunk size (too small or too large for its window), and no size it accepts fits.',
    fix: 'Set {{chunk-size}} within the limits the registry documents, or use {{upload-mode: monolithic}}.',
  },
  'vanished-after-ack': {
    title:
      'The registry acknowledged the upload (201) and then answered 404 to HEAD: its replicas do not share storage, or its storage is eventually consistent.',
    fix: 'Give every registry replica the same storage backend (a shared bucket or volume), or route all requests of a push to one replica (sticky sessions); with eventually consistent storage, enable its read-after-write consistency.',
  },
  'verify-mismatch': {
    title:
      'After the upload the registry reported a different size or digest for the blob than the bytes sent.',
    fix: "Check the registry's storage and any proxy that rewrites request bodies; push again once it serves blobs as uploaded.",
  },
  'lost-session': {
    title:
      'The registry lost the upload session (404 or BLOB_UPLOAD_UNKNOWN on the session URL) and a new one failed too.',
    fix: "Check the registry's log around the time of the push; if several replicas serve it, see that they share `http.secret` and storage.",
  },
  'session-expired': {
    title:
      'Upload sessions expired before the blob was sent: the registry drops a session a fixed time after it opens, and this upload takes longer.',
    fix: "Raise the registry's upload session lifetime (distribution: `storage.maintenance.uploadpurging`), or send faster: a larger {{chunk-size}}, or {{upload-mode: monolithic}}.",
  },
  'no-shared-secret': {
    title:
      'Upload sessions were lost again and again (BLOB_UPLOAD_UNKNOWN or BLOB_UPLOAD_INVALID): load-balanced registry replicas do not share `http.secret`, so one replica rejects the session state another wrote.',
    fix: 'Set the same `http.secret` (REGISTRY_HTTP_SECRET) on every replica, or use sticky sessions.',
  },
  'location-downgrade': {
    title:
      'The registry answered with http Location headers although it is reached over https: the TLS-terminating proxy in front of it does not send X-Forwarded-Proto.',
    fix: 'Make the proxy send `X-Forwarded-Proto: https` (nginx: `proxy_set_header X-Forwarded-Proto $scheme;`), or set `http.host` to the https URL in the registry config.',
  },
  'token-lifetime': {
    title:
      'The registry answered 401 partway through the push, after the credentials had been accepted: the token expired before the push finished, because its lifetime is too short.',
    fix: "Raise the token lifetime on the token service (for example distribution's token issuer expiration) above the time a push takes.",
  },
  credentials: {
    title:
      'The registry refused the credentials at the start (401 or 403): they are wrong, or they lack push permission on the repository.',
    fix: 'Check {{username}} and {{password}} (or the docker login that wrote them), and that the token or account may push to this repository.',
  },
  'no-credentials': {
    title: 'The registry asks for credentials (401), and none were found for it.',
    fix: 'Set {{username}} and {{password}}, or log in before this step (docker/login-action, `docker login`, `podman login`); the Docker config and podman auth.json are read.',
  },
  'permission-denied': {
    title:
      'The registry accepted the credentials but refused this request (403, or 401 insufficient_scope): the account may not push to this repository.',
    fix: "Grant the account push permission on the repository (GHCR: `permissions: packages: write` and the package's Actions access).",
  },
  'proxy-timeout': {
    title:
      'A proxy timed out waiting for the registry (522 or 524): one request took longer than the proxy allows (Cloudflare waits 100 s).',
    fix: "Use {{upload-mode: auto}} or {{upload-mode: chunked}} with a smaller {{chunk-size}} so each request finishes in time, or raise the proxy's timeout.",
  },
  'storage-error': {
    title:
      'The registry kept failing with a server error: most likely its storage backend is failing.',
    fix: "Check the registry's log for storage errors (permissions, a full disk, bucket credentials) at the time of the push.",
  },
  'rate-limited': {
    title:
      'The registry kept answering 429 Too Many Requests: the rate limit did not recover in time.',
    fix: 'Wait for the limit to reset, push fewer blobs at once ({{concurrency}}), or authenticate to get a higher limit.',
  },
  'read-only': {
    title:
      'The registry is read-only: it refused the upload (405 Method Not Allowed, or a read-only message). Maintenance mode or a replica that only serves pulls does this.',
    fix: 'Push when the registry is writable again (distribution: `storage.maintenance.readonly.enabled: false`), or push to its writable endpoint.',
  },
  'repository-unknown': {
    title: 'The registry does not know the repository (NAME_UNKNOWN or NAME_INVALID).',
    fix: 'Check the repository name in {{tags}}; some registries need the repository (or project) created before the first push.',
  },
  'manifest-refused': {
    title:
      'The registry refused the manifest itself (its size, media type or shape), after every blob was in place.',
    fix: "Read the registry's answer above: it names what it refused. Some registries refuse manifests over 4 MiB or some OCI media types.",
  },
  'tag-immutable': {
    title: 'The tag already exists and the registry keeps tags immutable (409 or 412).',
    fix: 'Push a new tag, or turn off tag immutability for this repository.',
  },
  'tls-untrusted': {
    title:
      "The registry's TLS certificate is signed by a certificate authority the runner does not trust.",
    fix: 'Set {{ca-file}} (or NODE_EXTRA_CA_CERTS) to the CA that signed it, or {{insecure: true}} for a test registry.',
  },
  'tls-self-signed': {
    title: "The registry's TLS certificate is self-signed.",
    fix: 'Set {{ca-file}} to that certificate (or the CA that issued it), or {{insecure: true}} for a test registry.',
  },
  'tls-name-mismatch': {
    title: "The registry's TLS certificate is for a different host name than the one in {{tags}}.",
    fix: 'Use the host name the certificate names in {{tags}}, or reissue the certificate with this name in its subjectAltName.',
  },
  'http-over-https': {
    title:
      'The registry speaks plain http, but oci-push reached it over https (the TLS handshake got an http answer).',
    fix: 'This registry speaks http: set {{insecure: true}}, or put TLS in front of it.',
  },
  'connection-refused': {
    title: 'Nothing accepted the connection: no registry is listening at that host and port.',
    fix: 'Check the host and port in {{tags}}; if the registry is a service container, make sure it has started (a health check) before this step.',
  },
  'dns-failure': {
    title: 'The registry host name does not resolve (DNS lookup failed).',
    fix: 'Check the host name in {{tags}} for a typo, and that the runner can resolve it (a private DNS zone is not visible from GitHub-hosted runners).',
  },
  'connect-timeout': {
    title:
      'Connecting to the registry timed out: a firewall drops the traffic, or the host is down.',
    fix: 'Check that the runner can reach the host and port in {{tags}} (firewall rules, security groups, a proxy via HTTPS_PROXY).',
  },
  'connection-reset': {
    title:
      'The connection kept breaking while the request body was being sent: a proxy or load balancer between the runner and the registry cuts long or large requests.',
    fix: "Use {{upload-mode: auto}} (the default) or {{upload-mode: chunked}} with a smaller {{chunk-size}}, and check the proxy's body size and idle timeout settings.",
  },
  'connection-dropped': {
    title:
      'The connection was closed before the registry answered, again and again: the registry or a proxy in front of it is dropping requests.',
    fix: "Check the registry's health and log, and any proxy in front of it, at the time of the push.",
  },
  'registry-stalled': {
    title:
      'The registry (or a proxy in front of it) stopped answering: requests got no answer within their deadline, again and again.',
    fix: "Check the registry's health, load and log at the time of the push, and any proxy in front of it; on a slow path, raise {{request-timeout}}.",
  },
  'location-unreachable': {
    title:
      "The registry answered, but its upload Locations name another host, which the runner cannot reach: a proxy in front of the registry passes the origin's internal address through.",
    fix: "Make the proxy pass `Host` and `X-Forwarded-Proto` (and `X-Forwarded-Host`) to the registry, or set the registry's `http.host` to the URL clients use.",
  },
  'proxy-auth': {
    title:
      'The proxy (HTTPS_PROXY or HTTP_PROXY) asked for credentials (407 Proxy Authentication Required): none were given, or it refused them. The registry was never reached.',
    fix: 'Put the proxy credentials in the proxy URL, percent-encoded: `HTTPS_PROXY=http://USER:PASSWORD@proxy.example.com:3128` (oci-push sends them to the proxy only, and masks them).',
  },
  'proxy-refused': {
    title:
      'The proxy (HTTPS_PROXY or HTTP_PROXY) refused to open a connection to the registry: its rules deny that host or port (403), or it could not reach the registry itself (502, 503). The registry was never reached.',
    fix: "Ask for the registry's host and port to be allowed through the proxy (squid: `http_access` and the CONNECT port list), or list the registry in NO_PROXY if the runner reaches it directly.",
  },
  'proxy-unreachable': {
    title:
      'The proxy named in HTTPS_PROXY or HTTP_PROXY cannot be reached: nothing accepts a connection there, or its name does not resolve.',
    fix: 'Check HTTPS_PROXY and HTTP_PROXY on the runner (host and port), or list the registry in NO_PROXY if it is reached directly.',
  },
  'proxy-tunnel': {
    title:
      'The proxy (HTTPS_PROXY) took the connection but did not open a tunnel to the registry: it closed it, stalled, or answered something that is not HTTP. The registry was never reached.',
    fix: "Check the proxy's log and whether its upstream can reach the registry (a proxy whose upstream is down often just closes); check HTTPS_PROXY names an HTTP proxy, or list the registry in NO_PROXY if the runner reaches it directly.",
  },
  'redirect-loop': {
    title:
      'The registry redirects blob reads in a loop (or through more than 5 redirects): no answer says whether the blob is there.',
    fix: "Check the registry's storage redirect settings (distribution: the `redirect` middleware's `baseurl`) and any proxy that rewrites Location headers.",
  },
  'redirect-scheme': {
    title:
      'The registry redirects blob reads to a URL that is not http or https (such as `file:`), which oci-push does not follow.',
    fix: "Point the registry's storage redirects at an http(s) URL (distribution: the `redirect` middleware's `baseurl`), or turn the redirect off.",
  },
  'realm-insecure': {
    title:
      'The token service (the realm in WWW-Authenticate) is on plain http while the registry is reached over https: oci-push does not send credentials there.',
    fix: 'Serve the token service over https, or set {{insecure: true}} to allow a plain-http realm (a test registry only).',
  },
  'realm-invalid': {
    title:
      'The token service the registry names (the realm in WWW-Authenticate) is not an http or https URL, so oci-push cannot fetch a token.',
    fix: "Set the registry's token realm to the token service's https URL (distribution: `auth.token.realm`).",
  },
  'manifest-dropped': {
    title:
      'The registry acknowledged the manifest (201) but does not serve it: reading the tag back answered 404. Its storage lost the write, or a cache in front of it serves an old answer.',
    fix: "Check the registry's storage and log at the time of the push, and any cache in front of it; push again once a tag reads back after it is written.",
  },
  'manifest-digest-mismatch': {
    title:
      'The registry serves the tag with another digest than the manifest pushed: it rewrote the manifest, or another push set the same tag at the same time.',
    fix: 'Check whether another job pushes the same tag at once, or a proxy rewrites manifests; the summary names the digest the tag points at now.',
  },
  'invalid-digest': {
    title:
      'The registry sent an invalid digest: its Docker-Content-Digest header is not algorithm:hex, so oci-push cannot tell what it stored, and passes none of it on.',
    fix: 'Check what answers for the registry (a proxy or gateway that rewrites headers, a registry that is not OCI-compliant); nothing was tagged on its word.',
  },
  'mount-refused': {
    title:
      'The registry refused to mount a blob from another repository (no pull access there, another project, or mounts across repositories turned off); the blob was uploaded instead.',
    fix: 'Nothing is needed: the blob was uploaded. To save the upload, give the credentials pull access to the source repository, or name one they can read with {{mount-from}}.',
  },
  input: {
    title: 'The input was refused before anything was sent to the registry.',
    fix: 'Correct the input named above; no blob, manifest or tag was sent to the registry.',
  },
  cancelled: {
    title: 'The run was cancelled (SIGINT or SIGTERM) before the push finished.',
    fix: 'Run it again: blobs already verified in the registry are skipped, and nothing was tagged that the summary does not list.',
  },
  unknown: {
    title: 'No known cause matches what the registry answered.',
    fix: "Read the registry's answer above and its log; rerun with [[step debug logging (the `ACTIONS_STEP_DEBUG` secret)||`--verbose`]] to see every request.",
  },
};

/** Who reads a text: fixes name the action's inputs, or the CLI's flags. */
export type Shell = 'action' | 'cli';

/**
 * Settings in cause texts are written `{{name}}` or `{{name: value}}` and shown in the syntax of
 * the shell that runs (`upload-mode: auto` in a workflow, `--upload-mode auto` on a command line);
 * `[[action text||cli text]]` differs whole.
 */
export function inShell(text: string, shell: Shell): string {
  return text
    .replace(/\[\[(.*?)\|\|(.*?)\]\]/g, (_, action: string, cli: string) =>
      shell === 'cli' ? cli : action,
    )
    .replace(/\{\{([a-z-]+)(?:: ([^}]+))?\}\}/g, (_, name: string, value?: string) => {
      if (shell === 'action') return `\`${value === undefined ? name : `${name}: ${value}`}\``;
      if (name === 'tags') return 'the target reference';
      if (value === undefined || value === 'true') return `\`--${name}\``;
      return `\`--${name} ${value}\``;
    });
}

/** Cloudflare's request body limits by plan, smallest first. */
const CLOUDFLARE_PLANS = [
  { bytes: 100e6, plans: 'Free and Pro', size: '100 MB' },
  { bytes: 200e6, plans: 'Business', size: '200 MB' },
  { bytes: 500e6, plans: 'Enterprise', size: '500 MB' },
];

/** The 413 texts with the size that was refused, and Cloudflare's plan limits only where they fit it. */
function bodyLimitText(id: CauseId, bytes: number): Omit<Cause, 'id'> | undefined {
  const size = formatSize(bytes);
  // A cap below the smallest chunk oci-push sends is past what chunks can fix.
  if (bytes <= CHUNK_FLOOR && id !== 'cloudflare-body-limit')
    return {
      title: `The path to the registry refused a request body of ${size} as too large (413): that is below the smallest chunk oci-push sends (${formatSize(CHUNK_FLOOR)}).`,
      fix: CAUSES['body-limit-at-floor'].fix,
    };
  const below = `a {{chunk-size}} below ${size}`;
  if (id === 'cloudflare-body-limit') {
    const over = CLOUDFLARE_PLANS.filter((p) => bytes > p.bytes);
    const plans = over.length
      ? ` That is over the limit of Cloudflare's ${over.map((p) => `${p.plans} (${p.size})`).join(', ')} plan${over.length > 1 ? 's' : ''}.`
      : ` That is below every Cloudflare plan's limit (100 MB at least): a rule on the zone (WAF, a Worker) or a proxy behind Cloudflare sets a smaller one.`;
    return {
      title: `Cloudflare refused a request body of ${size} as too large (413).${plans}`,
      fix: `Use {{upload-mode: auto}} (the default) or {{upload-mode: chunked}}, with ${below}.`,
    };
  }
  if (id === 'nginx-body-limit')
    return {
      title: `nginx refused a request body of ${size} as too large (413): its \`client_max_body_size\` is smaller.`,
      fix: `Raise \`client_max_body_size\` on the proxy (\`client_max_body_size 0;\` disables the check), or use {{upload-mode: auto}} (the default) with ${below}.`,
    };
  if (id === 'proxy-body-limit')
    return {
      title: `Something between the runner and the registry refused a request body of ${size} as too large (413, or 416 "too large").`,
      fix: `Raise the proxy's body size limit, or use {{upload-mode: auto}} (the default) with ${below}.`,
    };
  return undefined;
}

/** The registry that refused, when the username and password are for another one. */
function otherRegistry(
  facts: CauseFacts,
): { registry: string; credentialsRegistry: string } | undefined {
  const clean = (h: string | undefined): string | undefined =>
    h?.toLowerCase().replace(/[^a-z0-9.:[\]-]/g, '');
  const registry = clean(facts.registry);
  const credentialsRegistry = clean(facts.credentialsRegistry);
  if (!registry || !credentialsRegistry) return undefined;
  const same = (a: string, b: string): boolean => a.replace(/:443$/, '') === b.replace(/:443$/, '');
  return same(registry, credentialsRegistry) ? undefined : { registry, credentialsRegistry };
}

/** A registry that asked for credentials, when those given are for another registry. */
function credentialsElsewhere(
  id: 'no-credentials' | 'credentials',
  { registry, credentialsRegistry }: { registry: string; credentialsRegistry: string },
): Omit<Cause, 'id'> {
  const what =
    id === 'no-credentials'
      ? 'asks for credentials (401), and none were found for it'
      : 'refused the credentials it was given (401 or 403)';
  return {
    title: `\`${registry}\` ${what}: {{username}} and {{password}} are for \`${credentialsRegistry}\` only.`,
    fix: `[[Log in to \`${registry}\` before this step (docker/login-action with \`registry: ${registry}\`, \`docker login\`, \`podman login\`): its stored credentials are read. Or push to it in a step of its own with its own \`registry\`, \`username\` and \`password\`.||Give \`${registry}\` its own: \`--creds ${registry}=USER:ENV\` (the secret in the environment variable ENV), or \`docker login ${registry}\` / \`podman login ${registry}\` (their stored credentials are read).]]`,
  };
}

/** The cause text for an id, with the facts it names filled in, in the syntax of the shell that runs. */
export function causeOf(id: CauseId, facts: CauseFacts = {}, shell: Shell = 'action'): Cause {
  let text = CAUSES[id];
  if (id === 'body-limit-at-floor' && facts.smallestRefused !== undefined) {
    text = {
      ...text,
      title: `The path to the registry refused the request body as too large even for chunks of ${formatSize(facts.smallestRefused)}, the smallest oci-push sends: no chunk size can get through.`,
    };
  }
  if (facts.largestRefused !== undefined) text = bodyLimitText(id, facts.largestRefused) ?? text;
  const other = otherRegistry(facts);
  if ((id === 'no-credentials' || id === 'credentials') && other)
    text = credentialsElsewhere(id, other);
  if (id === 'location-unreachable' && facts.locationHost) {
    text = {
      ...text,
      title: `The registry answered, but its upload Locations name another host, \`${facts.locationHost}\`, which the runner cannot reach: a proxy in front of the registry passes the origin's internal address through.`,
    };
  }
  if (facts.proxy && id.startsWith('proxy-')) {
    // Named as the runner's settings name it; the text is scheme, host and port, from a URL parser.
    const named = facts.proxy.replace(/[^a-z0-9.:/[\]-]/gi, '');
    text = {
      ...text,
      title: text.title.replace(
        /^The proxy(?: named in HTTPS_PROXY or HTTP_PROXY| \(HTTPS_PROXY or HTTP_PROXY\))/,
        `The proxy at \`${named}\``,
      ),
    };
  }
  return { id, title: inShell(text.title, shell), fix: inShell(text.fix, shell) };
}

/** What a push worked around and got past: it succeeded, but the registry or the path is not well. */
export type RecoveryKind =
  | 'reuploaded'
  | 'replica-lag'
  | 'chunked'
  | 'chunks-only'
  | 'chunked-after-cuts'
  | 'sessions-lost'
  | 'retries';

export interface RecoveryFacts {
  /** Blobs it happened to. */
  blobs: number;
  /** How often: uploads again, HEADs asked again, sessions, requests tried again. */
  times: number;
  /** The largest body refused, and the chunk size that then went through. */
  largestRefused?: number;
  chunkBytes?: number;
}

export interface Recovery {
  kind: RecoveryKind;
  facts: RecoveryFacts;
  title: string;
  fix: string;
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * A chunk size that went through, as a `chunk-size` value that also goes through: whole MiB,
 * rounded down. Undefined below 1 MiB, the smallest `chunk-size` accepted.
 */
function sizeSetting(bytes: number): string | undefined {
  const mib = Math.floor(bytes / (1 << 20));
  return mib >= 1 ? `${mib}MiB` : undefined;
}

const RECOVERIES: Record<RecoveryKind, (f: RecoveryFacts) => { title: string; fix: string }> = {
  reuploaded: (f) => ({
    title: `The registry acknowledged ${count(f.blobs, 'blob')} (201) and then answered 404 to HEAD; oci-push uploaded ${f.blobs === 1 ? 'it' : 'them'} again (${count(f.times, 'time')}). Its replicas do not share storage, or its storage is eventually consistent: a push that meets this twice for one blob fails.`,
    fix: CAUSES['vanished-after-ack'].fix,
  }),
  'replica-lag': (f) => ({
    title: `${count(f.blobs, 'blob')} answered 404 right after the upload and ${f.blobs === 1 ? 'was' : 'were'} there when asked again (${count(f.times, 'HEAD')} repeated): the registry serves reads after writes with a delay, which clients that do not wait (a pull right after the push) fail on.`,
    fix: "Route a push's requests to one replica (sticky sessions), or enable the storage's read-after-write consistency.",
  }),
  chunked: (f) => ({
    title: `The path to the registry refused ${count(f.blobs, 'request body', 'request bodies')}${f.largestRefused ? ` of up to ${formatSize(f.largestRefused)}` : ''} as too large; oci-push sent ${f.blobs === 1 ? 'it' : 'them'} in chunks${f.chunkBytes ? ` of ${formatSize(f.chunkBytes)}` : ''}, which went through.`,
    fix:
      f.chunkBytes && sizeSetting(f.chunkBytes)
        ? `Set {{upload-mode: chunked}} and {{chunk-size: ${sizeSetting(f.chunkBytes)}}} to skip the refused attempts next time, or raise the proxy's body size limit.`
        : "Raise the proxy's body size limit; or set {{upload-mode: chunked}} to skip the refused single bodies (chunks are then made smaller at the first refused one, as this push did).",
  }),
  'chunks-only': (f) => ({
    title: `The registry refused ${count(f.blobs, 'blob')} sent as a single body (it takes uploads only in chunks); oci-push sent ${f.blobs === 1 ? 'it' : 'them'} in chunks, which went through.`,
    fix: 'Set {{upload-mode: chunked}} to skip the refused single bodies next time.',
  }),
  'chunked-after-cuts': (f) => ({
    title: `The connection broke while ${count(f.blobs, 'blob')}${f.largestRefused ? ` of up to ${formatSize(f.largestRefused)}` : ''} ${f.blobs === 1 ? 'was' : 'were'} sent as a single body; oci-push sent ${f.blobs === 1 ? 'it' : 'them'} in chunks${f.chunkBytes ? ` of ${formatSize(f.chunkBytes)}` : ''}, which went through: something between the runner and the registry cuts long or large requests.`,
    fix:
      f.chunkBytes && sizeSetting(f.chunkBytes)
        ? `Raise the proxy's timeout or body limit; or set {{upload-mode: chunked}} and {{chunk-size: ${sizeSetting(f.chunkBytes)}}} to skip the cut attempts next time.`
        : "Raise the proxy's timeout or body limit; or set {{upload-mode: chunked}} to skip the cut attempts next time.",
  }),
  'sessions-lost': (f) => ({
    title: `The registry lost ${count(f.times, 'upload session')} (404 or BLOB_UPLOAD_UNKNOWN on the session URL) for ${count(f.blobs, 'blob')}; oci-push started new ones.`,
    fix: CAUSES['no-shared-secret'].fix,
  }),
  retries: (f) => ({
    title: `${count(f.times, 'request')} for ${count(f.blobs, 'blob')} failed on the way (a network error, 5xx or 429) and went through when tried again.`,
    fix: 'Check the health and log of the registry and any proxy in front of it; each try again costs time and comes out of {{retries}}.',
  }),
};

/** A recovery's text with its facts, in the syntax of the shell that runs. */
export function recoveryOf(
  kind: RecoveryKind,
  facts: RecoveryFacts,
  shell: Shell = 'action',
): Recovery {
  const text = RECOVERIES[kind](facts);
  return { kind, facts, title: inShell(text.title, shell), fix: inShell(text.fix, shell) };
}

/** What a push with the defaults does about a problem `diagnose` found, where it gets past it. */
const WORKAROUNDS: Partial<Record<CauseId, string>> = {
  'cloudflare-body-limit':
    'a push with the default {{upload-mode: auto}} sends such bodies again in chunks, which went through: one refused request per blob first (set {{upload-mode: chunked}} to skip it)',
  'nginx-body-limit':
    'a push with the default {{upload-mode: auto}} sends such bodies again in chunks, which went through: one refused request per blob first (set {{upload-mode: chunked}} to skip it)',
  'proxy-body-limit':
    'a push with the default {{upload-mode: auto}} sends such bodies again in chunks, which went through: one refused request per blob first (set {{upload-mode: chunked}} to skip it)',
  'location-downgrade':
    'oci-push keeps https for http Locations, so a push gets through; other clients may not',
};

export function workaroundOf(id: CauseId, shell: Shell = 'action'): string | undefined {
  const text = WORKAROUNDS[id];
  return text === undefined ? undefined : inShell(text, shell);
}
