import type { Logger } from '../logger.js';
import type { Clock } from '../util/clock.js';
import {
  Authenticator,
  type Credentials,
  parseChallenge,
  repositoryScope,
  withAuth,
} from './auth.js';
import { RegistryError } from './errors.js';
import {
  type BaseTransport,
  type HttpRequest,
  type HttpResponse,
  type Transport,
  errorFromResponse,
} from './http.js';
import { withLogging } from './logging.js';
import { isLoopback } from './reference.js';
import { withRetry } from './retry.js';

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
}

/** Things seen on the wire that explain a failure later: the summary turns these into causes. */
export interface RegistryObservations {
  locationDowngraded: boolean;
  unauthorizedMidPush: number;
}

const TLS_MISMATCH = new Set([
  'EPROTO',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ECONNRESET',
  'UND_ERR_SOCKET',
]);

/** One registry host: its scheme, its auth, and the layered transport every request goes through. */
export class Registry {
  readonly name: string;
  readonly apiHost: string;
  readonly auth: Authenticator;
  readonly send: Transport;
  readonly observations: RegistryObservations = {
    locationDowngraded: false,
    unauthorizedMidPush: 0,
  };
  baseUrl: URL;

  constructor(private readonly options: RegistryOptions) {
    this.name = options.name;
    this.apiHost = options.apiHost;
    this.baseUrl = new URL(`https://${options.apiHost}`);
    const retrying = withRetry(
      options.base.send,
      { retries: options.retries, clock: options.clock },
      options.logger,
    );
    this.auth = new Authenticator({
      host: options.apiHost,
      credentials: options.credentials,
      transport: withLogging(retrying, options.logger),
      logger: options.logger,
      clock: options.clock,
      insecure: options.insecure,
    });
    // Retry sits outside auth so that every attempt carries a current token.
    this.send = withLogging(
      withRetry(
        withAuth(options.base.send, this.auth, () => this.noteRefresh()),
        { retries: options.retries, clock: options.clock },
        options.logger,
      ),
      options.logger,
    );
  }

  private authorized = false;

  /** A 401 after the start means a token expired mid-push: worth telling when something fails. */
  private noteRefresh(): void {
    if (this.authorized) this.observations.unauthorizedMidPush++;
  }

  get logger(): Logger {
    return this.options.logger;
  }

  /**
   * Finds the scheme and the auth challenge with `GET /v2/`. https comes first; loopback hosts and
   * `insecure` registries fall back to plain http when the port does not speak TLS.
   */
  async ping(): Promise<void> {
    const mayUseHttp = this.options.insecure || isLoopback(this.apiHost);
    const attempt = async (scheme: string): Promise<HttpResponse> => {
      const req: HttpRequest = { method: 'GET', url: new URL(`${scheme}://${this.apiHost}/v2/`) };
      return withRetry(
        this.options.base.send,
        { retries: this.options.retries, clock: this.options.clock },
        this.logger,
      )(req);
    };
    let res: HttpResponse | undefined;
    if (isLoopback(this.apiHost)) {
      // Loopback registries mostly speak plain http: asking that first saves a TLS handshake. A TLS
      // port answers 400 or drops the connection, and the https path below follows. No credentials
      // are sent before the scheme is known.
      const plain = await withRetry(
        this.options.base.send,
        { retries: 0, clock: this.options.clock },
        this.logger,
      )({
        method: 'GET',
        url: new URL(`http://${this.apiHost}/v2/`),
      }).catch(() => undefined);
      if (plain && (plain.status === 200 || plain.status === 401)) {
        res = plain;
        this.baseUrl = new URL(`http://${this.apiHost}`);
      }
    }
    if (!res) {
      try {
        res = await attempt('https');
        this.baseUrl = new URL(`https://${this.apiHost}`);
      } catch (error) {
        const code = error instanceof RegistryError ? (error.networkCode ?? '') : '';
        const certificate = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/i.test(code);
        if (certificate) {
          throw new RegistryError({
            method: 'GET',
            url: `https://${this.apiHost}/v2/`,
            networkCode: code,
            cause: error,
            context: `the certificate of ${this.apiHost} is not trusted; set ca-file or insecure`,
          });
        }
        if (!mayUseHttp || !(TLS_MISMATCH.has(code) || code.startsWith('ERR_SSL'))) throw error;
        res = await attempt('http');
        this.baseUrl = new URL(`http://${this.apiHost}`);
      }
    }
    if (res.status === 401) {
      this.auth.challenge = parseChallenge(res.headers['www-authenticate']);
    } else if (res.status !== 200) {
      const req = { method: 'GET', url: new URL('/v2/', this.baseUrl) };
      const why =
        res.status >= 500
          ? `${this.apiHost} is unavailable`
          : `${this.apiHost} does not answer as an OCI registry`;
      throw errorFromResponse(req, res, why);
    }
  }

  /** Checks up front that the credentials are accepted for pushing to `repository`. */
  async authorize(repository: string, mountFrom: string[] = []): Promise<void> {
    const scopes = this.scopesFor(repository, mountFrom);
    if (this.auth.challenge?.scheme === 'bearer') {
      await this.auth.header(scopes);
      this.authorized = true;
      return;
    }
    if (this.auth.challenge?.scheme === 'basic') {
      const req: HttpRequest = { method: 'GET', url: new URL('/v2/', this.baseUrl), scopes };
      const res = await this.send(req);
      if (res.status !== 200) {
        const who = this.auth.hasCredentials
          ? `the credentials from ${this.auth.credentialSource ?? 'the inputs'}`
          : 'anonymous access (no credentials found)';
        throw errorFromResponse(req, res, `${this.name} refused ${who}`);
      }
    }
    this.authorized = true;
  }

  scopesFor(repository: string, mountFrom: string[] = []): string[] {
    return [
      repositoryScope(repository, 'pull,push'),
      ...mountFrom.map((r) => repositoryScope(r, 'pull')),
    ];
  }
}
