import type { PushSettings } from '../config/settings.js';
import { EarlyConnections } from '../registry/early-connections.js';
import { proxySettingsFrom } from '../registry/proxy.js';

/**
 * The registries' TCP connections, opened by a shell as soon as it has the settings and before it
 * loads the push (the HTTP stack is most of the code): on a distant registry the handshake's round
 * trip then costs nothing. Malformed proxy settings open none; the transport reports them.
 */
export function openEarly(
  settings: Pick<PushSettings, 'tags' | 'requestTimeoutMs'>,
  env: NodeJS.ProcessEnv,
): EarlyConnections {
  let proxies;
  try {
    proxies = proxySettingsFrom(env);
  } catch {
    return new EarlyConnections(0);
  }
  return EarlyConnections.open(
    settings.tags.map((t) => t.apiHost),
    { proxies, requestMs: settings.requestTimeoutMs },
  );
}
