// Loads only the parts of undici this tool uses: the env-proxy agent and the request API. The
// package's index also builds fetch, WebSocket, caches and mock agents at load time, which costs
// ~60 ms on every start; a re-push with nothing to upload takes little more than that.
import type { EnvHttpProxyAgent as EnvHttpProxyAgentType } from 'undici';
import EnvHttpProxyAgentImpl from 'undici/lib/dispatcher/env-http-proxy-agent.js';
import Dispatcher from 'undici/lib/dispatcher/dispatcher.js';
import api from 'undici/lib/api/index.js';

// What undici's index does: make its API (request, and connect for proxy tunnels) methods of every
// dispatcher.
if (!('request' in Dispatcher.prototype)) Object.assign(Dispatcher.prototype, api);

export const EnvHttpProxyAgent = EnvHttpProxyAgentImpl as typeof EnvHttpProxyAgentType;
export type { Dispatcher } from 'undici';
