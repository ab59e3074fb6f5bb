import type { RouteAuthzConfig } from '../../config/authz-schema.js';
import type { Denial } from '../../gateway/problems.js';
import type { Identity, RequestContext } from '../../gateway/stage.js';
import { identityReader, type IdentityReader } from './identity-value.js';
import type { OwnerAnswer, OwnerCache } from './owner-cache.js';
import type { OwnerLookupClient } from './owner-lookup-client.js';
import { lookupUnavailable, objectRefused } from './refusal.js';
import { bodyRefused, valueRefusal } from './ownership-rules.js';
import { requestReader, type RequestReader, type RequestValue } from './request-value.js';

type LookupConfig = NonNullable<RouteAuthzConfig['ownerLookup']>;

const ABSENT: OwnerAnswer = Object.freeze({ owner: undefined });

/**
 * An object whose owner only the backend knows: the id is read from the request, the owner is
 * asked of the backend (or found in the cache), and must equal a part of the caller's identity.
 * Synchronous on a cache hit; a miss asks once for every request waiting on the same id. The
 * lookup failing refuses the request (503), and an object the backend does not know is refused
 * like someone else's.
 */
export class OwnerLookup {
  readonly #rule: string;
  readonly #read: RequestReader;
  readonly #expected: IdentityReader;
  readonly #hide: boolean;
  readonly #cache: OwnerCache;
  readonly #client: OwnerLookupClient;
  readonly #inFlight = new Map<string, Promise<OwnerAnswer | string>>();

  constructor(
    cfg: LookupConfig,
    hide: boolean,
    parts: { readonly cache: OwnerCache; readonly client: OwnerLookupClient },
  ) {
    this.#rule = cfg.name === undefined ? 'ownerLookup' : `ownerLookup.${cfg.name}`;
    this.#read = requestReader(cfg.value);
    this.#expected = identityReader(cfg.equals);
    this.#hide = hide;
    this.#cache = parts.cache;
    this.#client = parts.client;
  }

  check(ctx: RequestContext, identity: Identity): Denial | undefined | Promise<Denial | undefined> {
    const id = this.#read(ctx);
    // An id in the JSON body: wait for it, then the same as any other.
    if (id instanceof Promise)
      return id.then(
        (value) => this.#checkId(identity, value),
        (err: unknown) => bodyRefused(err, identity, this.#rule),
      );
    return this.#checkId(identity, id);
  }

  #checkId(identity: Identity, id: RequestValue): Denial | undefined | Promise<Denial | undefined> {
    const expected = this.#expected(identity);
    const refused = valueRefusal(identity, this.#rule, id, expected, this.#hide);
    if (refused !== undefined) return refused;
    // valueRefusal returns a refusal unless both are strings.
    const object = id as string;
    const cached = this.#cache.get(object);
    if (cached !== undefined) return this.#decide(identity, object, cached, expected as string);
    return this.#ask(object).then((answer) =>
      typeof answer === 'string'
        ? lookupUnavailable(
            identity,
            { reason: 'authz.owner_lookup.unavailable', rule: this.#rule, object },
            answer,
          )
        : this.#decide(identity, object, answer, expected as string),
    );
  }

  /** The owner, ABSENT, or the cause of a failure; one call per id however many wait on it. */
  #ask(id: string): Promise<OwnerAnswer | string> {
    const pending = this.#inFlight.get(id);
    if (pending !== undefined) return pending;
    const call = this.#client.call(id).then((result) => {
      this.#inFlight.delete(id);
      if (result.kind === 'failed') return result.cause;
      const answer = result.kind === 'absent' ? ABSENT : Object.freeze({ owner: result.owner });
      this.#cache.set(id, answer);
      return answer;
    });
    this.#inFlight.set(id, call);
    return call;
  }

  #decide(
    identity: Identity,
    object: string,
    answer: OwnerAnswer,
    expected: string,
  ): Denial | undefined {
    if (answer.owner === undefined)
      return objectRefused(
        identity,
        { reason: 'authz.owner_lookup.not_found', rule: this.#rule, object },
        this.#hide,
      );
    // Exact: owners are ids, and `User_Alice` or `user_alice ` is someone else.
    if (answer.owner !== expected)
      return objectRefused(
        identity,
        { reason: 'authz.owner_lookup.mismatch', rule: this.#rule, object },
        this.#hide,
      );
    return undefined;
  }
}
