const DEFAULT_PORT: Record<string, string> = { 'http:': '80', 'https:': '443' };

function portOf(url: URL): string {
  return url.port || DEFAULT_PORT[url.protocol] || '';
}

export interface ResolvedLocation {
  url: URL;
  /** The registry said http for an https endpoint: a TLS-terminating proxy without X-Forwarded-Proto. */
  downgraded: boolean;
}

/**
 * Resolves a `Location` header against the URL that returned it, keeping its query string (upload
 * state lives there). An http Location for the https host we are talking to is upgraded back to https.
 */
export function resolveLocation(base: URL, location: string): ResolvedLocation {
  const url = new URL(location, base);
  const sameHost = url.hostname === base.hostname;
  if (base.protocol === 'https:' && url.protocol === 'http:' && sameHost) {
    const port = portOf(url) === '80' ? portOf(base) : portOf(url);
    url.protocol = 'https:';
    url.port = port === '443' ? '' : port;
    return { url, downgraded: true };
  }
  return { url, downgraded: false };
}
