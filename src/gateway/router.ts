import FindMyWay from 'find-my-way';
import type { Denial } from './problems.js';

/** What the router needs of a route. */
export interface Routable {
  readonly name: string;
  readonly hosts: readonly string[] | undefined;
  readonly paths: readonly string[];
  readonly methods: readonly string[];
}

interface Slot<R> {
  readonly routes: R[];
  allow: string;
}

export type RouteMatch<R> =
  | { readonly ok: true; readonly route: R; readonly params: Record<string, string | undefined> }
  | { readonly ok: false; readonly denial: Denial };

const NOT_FOUND: Denial = Object.freeze({
  kind: 'not-found',
  reason: 'route.not_found',
  detail: 'No route matches this path.',
});

/** A hostname pattern without port: `api.example.com` or `*.example.com`. */
function hostConstraint(pattern: string): string | RegExp {
  const host = pattern.replace(/:[0-9]+$/, '').toLowerCase();
  if (!host.startsWith('*.')) return host;
  const suffix = host.slice(1).replace(/[.]/g, '\\.');
  // One label for the wildcard, as TLS wildcards do: `*.example.com` does not match `a.b.example.com`.
  return new RegExp(`^[a-z0-9-]+${suffix}$`);
}

/**
 * Matches the canonical path (and host) with find-my-way, then the method among the routes that
 * share that path, so that a known path with a wrong method is 405 with Allow, not 404.
 */
export class Router<R extends Routable> {
  readonly #fmw = FindMyWay({
    ignoreTrailingSlash: false,
    ignoreDuplicateSlashes: false,
    caseSensitive: true,
    maxParamLength: 512,
  });

  constructor(routes: readonly R[]) {
    const slots = new Map<string, Slot<R>>();
    for (const route of routes) {
      const hosts = route.hosts ?? [undefined];
      for (const host of hosts) {
        for (const path of route.paths) {
          const key = `${host ?? ''} ${path}`;
          let slot = slots.get(key);
          if (slot === undefined) {
            slot = { routes: [], allow: '' };
            slots.set(key, slot);
            const opts = host === undefined ? {} : { constraints: { host: hostConstraint(host) } };
            this.#fmw.on('GET', path, opts, () => undefined, slot);
          }
          slot.routes.push(route);
        }
      }
    }
    for (const slot of slots.values()) {
      slot.allow = [...new Set(slot.routes.flatMap((r) => r.methods))].join(', ');
    }
  }

  match(method: string, path: string, host: string): RouteMatch<R> {
    const found = this.#fmw.find('GET', path, { host });
    if (found === null) return { ok: false, denial: NOT_FOUND };
    const slot = found.store as Slot<R>;
    for (const route of slot.routes) {
      if (route.methods.includes(method)) return { ok: true, route, params: found.params };
    }
    return {
      ok: false,
      denial: {
        kind: 'method-not-allowed',
        reason: 'route.method_not_allowed',
        detail: 'This path does not accept this method.',
        headers: { allow: slot.allow },
      },
    };
  }
}
