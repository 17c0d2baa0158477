// Loads only the parts of undici this tool uses: the env-proxy agent and the request API. The
// package's index also builds fetch, WebSocket, caches and mock agents at load time, which costs
// ~60 ms on every start; a re-push with nothing to upload takes little more than that.
import { setFlagsFromString } from 'node:v8';
import type { EnvHttpProxyAgent as EnvHttpProxyAgentType } from 'undici';
import EnvHttpProxyAgentImpl from 'undici/lib/dispatcher/env-http-proxy-agent.js';
import Dispatcher from 'undici/lib/dispatcher/dispatcher.js';
import api from 'undici/lib/api/index.js';

// undici parses HTTP with a WebAssembly build of llhttp, compiled at the first request. V8's optimising
// tier spends ~200 ms of CPU on it, on machines where the registry may share the cores; its baseline
// tier parses the few small responses a push reads just as well. The flag is read at compile time.
setFlagsFromString('--liftoff-only');

// What undici's index does: make its API (request, and connect for proxy tunnels) methods of every
// dispatcher.
if (!('request' in Dispatcher.prototype)) Object.assign(Dispatcher.prototype, api);

export const EnvHttpProxyAgent = EnvHttpProxyAgentImpl as typeof EnvHttpProxyAgentType;
export type { Dispatcher } from 'undici';
