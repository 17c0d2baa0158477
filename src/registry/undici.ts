// undici through its public API only: the agents this tool dispatches through, and their types.
export { Agent, ProxyAgent } from 'undici';
export type { Dispatcher, buildConnector } from 'undici';
