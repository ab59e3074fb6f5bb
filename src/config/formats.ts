import { isIP } from 'node:net';
import type { Ajv } from 'ajv';
import { isValidCidr } from '../gateway/ip-set.js';

/**
 * The string formats the config schema (and stage settings schemas) use, each with the
 * message an operator reads when a value does not match. Every check is a bounded loop or a
 * linear regex: a config can come from a less trusted place than the gateway itself.
 */
interface ConfigFormat {
  readonly validate: (s: string) => boolean;
  readonly message: string;
}

/** Bytes that `new URL` silently strips or rewrites: a URL holding one is not what it looks like. */
function hasControlOrSpace(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return true;
  }
  return false;
}

function isHttpUrl(s: string): boolean {
  if (s.length > 2048 || hasControlOrSpace(s) || /[\\?#]/.test(s)) return false;
  const scheme = /^https?:\/\//i.exec(s);
  if (scheme === null) return false;
  // Credentials in an upstream URL would end up in logs and errors; `http://@host` too.
  const authority = s.slice(scheme[0].length).split('/', 1)[0] ?? '';
  if (authority.includes('@')) return false;
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return false;
  }
  return (
    (url.protocol === 'http:' || url.protocol === 'https:') &&
    url.hostname !== '' &&
    url.username === '' &&
    url.password === ''
  );
}

// RFC 9110 section 5.6.2 token.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function isHeaderName(s: string): boolean {
  return s.length <= 256 && TOKEN.test(s);
}

/** A header value a stage may set: visible ASCII, spaces and tabs; never CR, LF or NUL. */
function isHeaderValue(s: string): boolean {
  return s.length <= 8192 && /^[\t\x20-\x7e]*$/.test(s);
}

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

function isPort(s: string): boolean {
  return /^[1-9][0-9]{0,4}$/.test(s) && Number(s) <= 65_535;
}

function isHostPattern(s: string): boolean {
  if (s.length > 260) return false;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end === -1 || isIP(s.slice(1, end)) !== 6) return false;
    const rest = s.slice(end + 1);
    return rest === '' || (rest.startsWith(':') && isPort(rest.slice(1)));
  }
  let host = s;
  const colon = host.indexOf(':');
  if (colon !== -1) {
    if (!isPort(host.slice(colon + 1))) return false;
    host = host.slice(0, colon);
  }
  if (host.startsWith('*.')) host = host.slice(2);
  if (host.length === 0 || host.length > 253) return false;
  return host.split('.').every((label) => LABEL.test(label));
}

const PARAM = /^:[A-Za-z_][A-Za-z0-9_]*$/;
// No `:` (a param), `*` (a wildcard) or `(`/`)` (find-my-way regex params) in a static segment.
const STATIC = /^[A-Za-z0-9._~!$&'+,=@-]+$/;

function isRoutePath(s: string): boolean {
  if (!s.startsWith('/') || s.length > 2048) return false;
  // Routes match the canonical path: a pattern with an encoding, a dot segment or an empty
  // segment could never match, or would match something other than what it reads as.
  if (s.includes('..') || s.includes('//') || /[%?#\\;]/.test(s)) return false;
  const segments = s.slice(1).split('/');
  const last = segments.length - 1;
  return segments.every((seg, i) => {
    if (seg === '' || seg === '*') return i === last;
    if (seg.startsWith(':')) return PARAM.test(seg);
    return seg !== '.' && STATIC.test(seg);
  });
}

const FORMATS: Readonly<Record<string, ConfigFormat>> = {
  'http-url': { validate: isHttpUrl, message: 'must be an absolute http(s) URL' },
  cidr: { validate: isValidCidr, message: 'must be an IPv4/IPv6 address or CIDR' },
  'header-name': {
    validate: isHeaderName,
    message: 'must be an HTTP header name (RFC 9110 token characters only)',
  },
  'header-value': {
    validate: isHeaderValue,
    message: 'must be a header value: printable ASCII, no CR, LF or other control characters',
  },
  'host-pattern': {
    validate: isHostPattern,
    message: 'must be a host name, or *.domain for a wildcard, with an optional :port',
  },
  'route-path': {
    validate: isRoutePath,
    message:
      'must be a route path: starts with /, static and :param segments, an optional final *; ' +
      'no .., //, %, ?, #, \\ or ;',
  },
};

/** The config formats as ajv format definitions, by name. */
export function configFormatDefinitions(): Record<
  string,
  { type: 'string'; validate: (s: string) => boolean }
> {
  return Object.fromEntries(
    Object.entries(FORMATS).map(([name, f]) => [name, { type: 'string', validate: f.validate }]),
  );
}

/** Registers the config formats on an ajv instance. */
export function addConfigFormats(ajv: Ajv): void {
  for (const [name, format] of Object.entries(configFormatDefinitions()))
    ajv.addFormat(name, format);
}

/** The human message for a value that does not match `format`. */
export function formatMessage(format: string): string {
  return FORMATS[format]?.message ?? `must be a valid ${format}`;
}
