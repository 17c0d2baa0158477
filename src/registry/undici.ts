// undici through its public API only: the agents this tool dispatches through, and their types.
export { Agent, ProxyAgent, buildConnector, errors } from 'undici';
export type { Dispatcher } from 'undici';
