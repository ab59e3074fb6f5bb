/**
 * CORS origins as the config gives them, checked once at load and matched strictly: a browser
 * sends the serialized origin (`https://app.example.com`, lower case, no default port, no
 * path), so anything else is refused rather than interpreted. Never a substring or prefix
 * test: `https://example.com.evil.com` and `https://evilexample.com` are other origins.
 */
export type OriginRule =
  | { readonly kind: 'any' }
  | { readonly kind: 'null' }
  | { readonly kind: 'exact'; readonly origin: string }
  | { readonly kind: 'subdomain'; readonly scheme: string; readonly suffix: string };

const DEFAULT_PORTS: Readonly<Record<string, string>> = { 'http:': '80', 'https:': '443' };
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** The rule for one configured origin, or why it is not one. */
export function parseOriginRule(text: string): OriginRule | string {
  if (text === '*') return { kind: 'any' };
  if (text === 'null') return { kind: 'null' };
  const wildcard = /^(https?):\/\/\*\.(.+)$/.exec(text);
  const probe = wildcard === null ? text : `${wildcard[1] ?? ''}://wildcard.${wildcard[2] ?? ''}`;
  if (!URL.canParse(probe)) return 'is not an origin (scheme://host[:port])';
  const url = new URL(probe);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be http or https';
  if (url.username !== '' || url.password !== '') return 'must not have user information';
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || /\/$/.test(text))
    return 'must have no path, query or fragment';
  if (url.hostname.endsWith('.')) return 'must not end with a dot';
  // Config text, not attacker input; the URL parser lets `*` and `_` into a host name.
  if (!/^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])$/.test(url.hostname))
    return 'has a host name that is not one (a `*` only as the first label)';
  const port = url.port === '' || url.port === DEFAULT_PORTS[url.protocol] ? '' : `:${url.port}`;
  if (wildcard === null)
    return { kind: 'exact', origin: `${url.protocol}//${url.hostname}${port}` };
  const rest = url.hostname.slice('wildcard.'.length);
  if (!rest.includes('.')) return 'a wildcard needs at least two labels after `*.`';
  if (rest.startsWith('[') || /^[0-9.]+$/.test(rest)) return 'a wildcard needs a domain name';
  return { kind: 'subdomain', scheme: url.protocol, suffix: `.${rest}${port}` };
}

/** Whether the Origin header value `origin` is allowed by `rule`. */
export function originMatches(rule: OriginRule, origin: string): boolean {
  switch (rule.kind) {
    case 'any':
      return true;
    case 'null':
      return origin === 'null';
    case 'exact':
      return origin === rule.origin;
    case 'subdomain': {
      const head = `${rule.scheme}//`;
      if (!origin.startsWith(head) || !origin.endsWith(rule.suffix)) return false;
      // Exactly one DNS label in place of the `*`: `a.b.example.com` is not `*.example.com`.
      const label = origin.slice(head.length, origin.length - rule.suffix.length);
      return label.length <= 63 && LABEL.test(label);
    }
  }
}
