import type { Logger } from '../util/logger.js';
import type { Clock } from '../util/clock.js';
import { Authenticator, type Credentials, repositoryScope, withAuth } from './auth.js';
import { type BaseTransport, type HttpRequest, type Transport, errorFromResponse } from './http.js';
import { HostProfile } from './host-profile.js';
import { quirksOf } from './known-hosts.js';
import { withLogging } from './logging.js';
import type { PingResult } from './ping.js';
import { withRetry } from './retry.js';
import { type Ahead, withAhead } from './ahead.js';

export interface RegistryOptions {
  /** The registry as the user named it (docker.io), for messages. */
  name: string;
  /** host[:port] serving the API. */
  apiHost: string;
  credentials?: Credentials;
  insecure: boolean;
  retries: number;
  clock: Clock;
  logger: Logger;
  base: BaseTransport;
  /** What `ping()` learned about the host. */
  pinged: PingResult;
  /** Existence checks asked beside the ping; used only if it asked for no credentials. */
  ahead?: Ahead;
}

/** Things seen on the wire that explain a failure later: the summary turns these into causes. */
export interface RegistryObservations {
  locationDowngraded: boolean;
  /** Upload Locations named this unreachable host, and their paths were used on the registry's own. */
  locationMovedFrom?: string;
  unauthorizedMidPush: number;
  /** Repositories the registry would not mount from (no pull access there, or mounts refused). */
  mountsRefusedFrom: string[];
}

/**
 * One registry host: its scheme, its auth, the body sizes it was seen to take, and the layered
 * transport every request goes through (logging → retry → auth → base).
 */
export class Registry {
  readonly name: string;
  readonly apiHost: string;
  readonly baseUrl: URL;
  readonly auth: Authenticator;
  /** Every request outside a blob's machine: logging → retry → auth → base. */
  readonly send: Transport;
  /** A blob step's request, without the retry layer: its machine tries again, charged to its budget. */
  readonly sendOnce: Transport;
  readonly profile: HostProfile;
  readonly observations: RegistryObservations = {
    locationDowngraded: false,
    unauthorizedMidPush: 0,
    mountsRefusedFrom: [],
  };
  private authorizedOnce = false;

  constructor(private readonly options: RegistryOptions) {
    this.name = options.name;
    this.apiHost = options.apiHost;
    this.baseUrl = options.pinged.baseUrl;
    this.profile = new HostProfile(quirksOf(options.apiHost));
    const policy = { retries: options.retries, clock: options.clock };
    this.auth = new Authenticator({
      host: options.apiHost,
      challenge: options.pinged.challenge,
      credentials: options.credentials,
      transport: withLogging(withRetry(options.base.send, policy, options.logger), options.logger),
      logger: options.logger,
      clock: options.clock,
      insecure: options.insecure,
      registryProtocol: this.baseUrl.protocol,
    });
    // Retry sits outside auth so that every try carries a current token.
    const base =
      options.ahead && !options.pinged.challenge
        ? withAhead(options.base.send, options.ahead)
        : options.base.send;
    const authed = withAuth(base, this.auth, () => this.noteRefresh());
    this.send = withLogging(withRetry(authed, policy, options.logger), options.logger);
    this.sendOnce = withLogging(authed, options.logger);
  }

  /** The credentials were accepted at the start: a 401 from now on is a token that expired. */
  /** Whether its requests share one HTTP/2 connection (known once `GET /v2/` was answered). */
  get multiplexed(): boolean {
    return this.options.base.multiplexed?.(this.baseUrl.host) ?? false;
  }

  /** A blob's body will soon go to `url`: its connection's handshakes may start now. */
  warm(url: URL): void {
    this.options.base.warm?.(url);
  }

  get authorized(): boolean {
    return this.authorizedOnce;
  }

  get logger(): Logger {
    return this.options.logger;
  }

  private noteRefresh(): void {
    if (this.authorizedOnce) this.observations.unauthorizedMidPush++;
  }

  /** Checks up front that the credentials are accepted for pushing to `repository`. */
  async authorize(repository: string, mountFrom: string[] = []): Promise<void> {
    const scopes = this.scopesFor(repository, mountFrom);
    if (this.auth.challenge?.scheme === 'bearer') {
      await this.auth.header(scopes);
      this.authorizedOnce = true;
      return;
    }
    if (this.auth.challenge?.scheme === 'basic') {
      const req: HttpRequest = {
        method: 'GET',
        op: 'authorize',
        url: new URL('/v2/', this.baseUrl),
        scopes,
      };
      const res = await this.send(req);
      if (res.status !== 200) {
        throw errorFromResponse(req, res, `${this.name} refused ${this.auth.who}`);
      }
    }
    this.authorizedOnce = true;
  }

  scopesFor(repository: string, mountFrom: string[] = []): string[] {
    return [
      repositoryScope(repository, 'pull,push'),
      ...mountFrom.map((r) => repositoryScope(r, 'pull')),
    ];
  }
}
