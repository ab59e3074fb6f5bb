import type { Logger } from 'pino';
import type { Clock } from '../../../gateway/stage.js';

/** What the introspection client needs of the SecretStore (src/state/crypto/secrets.ts). */
export interface SecretReader {
  get(name: string): Promise<string | undefined>;
}

/** How long a secret that could not be loaded is not asked for again (and not logged again). */
const RETRY_MS = 5_000;

/**
 * RFC 6749 section 2.3.1: the client id and secret are form-urlencoded, then joined with `:`
 * and base64-encoded, so that a `:` in the id cannot move the split.
 */
function formEncode(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, '+');
}

export type ClientAuthorization =
  | { readonly ok: true; readonly header: string }
  | { readonly ok: false; readonly cause: 'missing' | 'unreadable' };

/**
 * The `Authorization: Basic ...` header the gateway authenticates to an introspection endpoint
 * with, its secret loaded from the SecretStore by name the first time it is needed and kept in
 * memory. Only the header is kept, never logged; messages name the secret, not its value.
 */
export class ClientAuthorizationHeader {
  readonly #clientId: string;
  readonly #secretName: string;
  readonly #endpoint: string;
  readonly #secrets: SecretReader;
  readonly #log: Logger;
  readonly #clock: Clock;
  #header: string | undefined;
  #loading: Promise<ClientAuthorization> | undefined;
  #failed: { readonly at: number; readonly result: ClientAuthorization } | undefined;

  constructor(opts: {
    clientId: string;
    secretName: string;
    /** The endpoint's name in `authn.introspection`, for messages. */
    endpoint: string;
    secrets: SecretReader;
    log: Logger;
    clock: Clock;
  }) {
    this.#clientId = opts.clientId;
    this.#secretName = opts.secretName;
    this.#endpoint = opts.endpoint;
    this.#secrets = opts.secrets;
    this.#log = opts.log;
    this.#clock = opts.clock;
  }

  /** The header; loads the secret on first use, and again once `forget` was called. */
  get(): ClientAuthorization | Promise<ClientAuthorization> {
    if (this.#header !== undefined) return { ok: true, header: this.#header };
    const failed = this.#failed;
    // A missing secret is not looked up again for every request: the store is not hammered,
    // and the log gets one line per interval rather than one per request.
    if (failed !== undefined && this.#clock.monotonic() - failed.at < RETRY_MS)
      return failed.result;
    this.#loading ??= this.#load().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  /**
   * The endpoint refused the gateway's client authentication: the secret may have been
   * replaced (`portcullis secrets set`), so the next call reads it again.
   */
  forget(): void {
    this.#header = undefined;
  }

  async #load(): Promise<ClientAuthorization> {
    let secret: string | undefined;
    try {
      secret = await this.#secrets.get(this.#secretName);
    } catch (err) {
      // PCL_DECRYPT_FAILED, PCL_STORE_*: the code and message never carry the value.
      const code = (err as { code?: unknown }).code;
      this.#log.error(
        {
          event: 'authn.introspection.secret_unreadable',
          endpoint: this.#endpoint,
          secret: this.#secretName,
          code: typeof code === 'string' ? code : undefined,
          error: err instanceof Error ? err.message : String(err),
        },
        `the client secret ${this.#secretName} of introspection endpoint ${this.#endpoint} cannot be read; requests that need it are refused with 503`,
      );
      return this.#fail({ ok: false, cause: 'unreadable' });
    }
    if (secret === undefined || secret === '') {
      this.#log.error(
        {
          event: 'authn.introspection.secret_missing',
          endpoint: this.#endpoint,
          secret: this.#secretName,
        },
        `no secret ${this.#secretName} in the store for introspection endpoint ${this.#endpoint}: ` +
          `set it with \`portcullis secrets set ${this.#secretName}\`; until then requests that need it are refused with 503`,
      );
      return this.#fail({ ok: false, cause: 'missing' });
    }
    this.#failed = undefined;
    const basic = Buffer.from(`${formEncode(this.#clientId)}:${formEncode(secret)}`).toString(
      'base64',
    );
    this.#header = `Basic ${basic}`;
    return { ok: true, header: this.#header };
  }

  #fail(result: ClientAuthorization): ClientAuthorization {
    this.#failed = { at: this.#clock.monotonic(), result };
    return result;
  }
}
