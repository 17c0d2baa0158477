import { oneLine } from '../util/text.js';

const SENSITIVE_PARAMS =
  /^(?:token|access_token|refresh_token|password|signature|sig|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential)$/i;

/** A URL safe to print: no userinfo, and signed or token-bearing query parameters hidden. */
export function redactUrl(url: URL | string): string {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    return '(invalid url)';
  }
  parsed.username = '';
  parsed.password = '';
  for (const key of [...parsed.searchParams.keys()]) {
    if (SENSITIVE_PARAMS.test(key)) parsed.searchParams.set(key, 'REDACTED');
  }
  return parsed.toString();
}

/** Shortens a URL for display: upload session state is long and says nothing to a reader. */
export function displayUrl(url: URL | string): string {
  const redacted = new URL(redactUrl(url));
  if (redacted.searchParams.has('_state')) redacted.searchParams.set('_state', '…');
  let text = redacted.toString();
  try {
    text = decodeURIComponent(text);
  } catch {
    // A malformed escape stays as the registry sent it.
  }
  // A `%0A` in a Location must not become a line of its own in the log.
  return oneLine(text);
}
