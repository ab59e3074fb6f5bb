// Builds the labelled corpus of eval/detection/corpus/ from payloads.mjs and benign-text.mjs:
//   node eval/detection/build-corpus.mjs
// Deterministic (a seeded generator), so the files change only when the material does. Each
// line: { id, label: attack|benign, category, request: { method, path, query, headers, body } }.
import { writeFileSync } from 'node:fs';
import { PAYLOADS } from './payloads.mjs';
import * as T from './benign-text.mjs';

const DIR = new URL('./corpus/', import.meta.url);

/** mulberry32: a small seeded generator, so the corpus is the same on every run. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(20261127);
const pick = (list) => list[Math.floor(rand() * list.length)];
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));

function baseHeaders() {
  return {
    'user-agent': pick(T.AGENTS),
    accept: 'application/json',
    'accept-language': pick(['en-GB,en;q=0.9', 'fr-FR,fr;q=0.8,en;q=0.5', 'de-DE', 'en-US']),
  };
}
const jsonHeaders = () => ({ ...baseHeaders(), 'content-type': 'application/json' });

// ---------------------------------------------------------------------------------------------
// Attacks: each payload in its family's usual place, and once more in a nested JSON field.

const hasEncoding = (s) => /%[0-9a-fA-F]{2}/.test(s);
/** How a client puts the payload in a query string: already-encoded payloads go as they are. */
const inQuery = (s) => (hasEncoding(s) ? s.replaceAll(' ', '%20') : encodeURIComponent(s));
const printableHeader = (s) => /^[\x20-\x7e\t]*$/.test(s);

const PLACES = {
  query: (p) => ({
    method: 'GET',
    path: '/products',
    query: `q=${inQuery(p)}&page=1`,
    headers: baseHeaders(),
  }),
  redirect: (p) => ({
    method: 'GET',
    path: '/login',
    query: `next=${inQuery(p)}`,
    headers: baseHeaders(),
  }),
  body: (p) => ({
    method: 'POST',
    path: '/tickets',
    query: '',
    headers: jsonHeaders(),
    body: { subject: 'Help', message: p },
  }),
  nested: (p) => ({
    method: 'POST',
    path: '/orders',
    query: '',
    headers: jsonHeaders(),
    body: { customer: { id: 'c-1042' }, items: [{ sku: 'A-1', qty: 1, note: p }], coupon: null },
  }),
  url: (p) => ({
    method: 'POST',
    path: '/webhooks',
    query: '',
    headers: jsonHeaders(),
    body: { name: 'hook', url: p },
  }),
  header: (p) =>
    printableHeader(p)
      ? {
          method: 'GET',
          path: '/products',
          query: '',
          headers: { ...baseHeaders(), 'user-agent': p },
        }
      : PLACES.query(p),
  cookie: (p) =>
    printableHeader(p) && !p.includes(';')
      ? {
          method: 'GET',
          path: '/account',
          query: '',
          headers: { ...baseHeaders(), cookie: `session=abc123; lang=${p}` },
        }
      : PLACES.query(p),
  rawQuery: (p) => ({ method: 'GET', path: '/users', query: p, headers: baseHeaders() }),
  object: (p) => ({ method: 'POST', path: '/login', query: '', headers: jsonHeaders(), body: p }),
};

const FAMILY_PLACES = {
  sqli: ['query', 'body', 'cookie', 'header'],
  xss: ['body', 'query', 'header'],
  cmdi: ['query', 'body'],
  traversal: ['query', 'body'],
  ssrf: ['url', 'query'],
  nosql: ['object'],
  proto: ['object'],
  xxe: ['body', 'query'],
  ssti: ['body', 'query'],
  jndi: ['header', 'query', 'body'],
  crlf: ['redirect', 'query', 'cookie'],
};

function attackRequests(family, payload, i) {
  if (typeof payload !== 'string') return [PLACES.object(payload)];
  // A bracketed parameter name or a raw query (`user[$ne]=x`) only means anything as a query.
  if ((family === 'nosql' || family === 'proto') && /^[\w[\].$]+=/.test(payload)) {
    return [PLACES.rawQuery(payload)];
  }
  if (family === 'nosql' || family === 'proto')
    return [PLACES.body(payload), PLACES.query(payload)];
  const places = FAMILY_PLACES[family];
  const first = places[i % places.length];
  const second = family === 'crlf' ? (first === 'query' ? 'redirect' : 'query') : 'nested';
  return [PLACES[first](payload), PLACES[second](payload)];
}

const attacks = [];
for (const [family, payloads] of Object.entries(PAYLOADS)) {
  payloads.forEach((payload, i) => {
    for (const [k, request] of attackRequests(family, payload, i).entries()) {
      attacks.push({ id: `${family}-${i}-${k}`, label: 'attack', category: family, request });
    }
  });
}
// Payloads an application decodes before use: base64 in a JSON field (a "data" or "template"
// field), one per family where that is how the attack is described.
for (const [family, idx] of [
  ['xss', 0],
  ['ssti', 0],
  ['ssti', 9],
  ['sqli', 5],
  ['cmdi', 7],
  ['traversal', 0],
  ['jndi', 0],
]) {
  const p = PAYLOADS[family][idx];
  attacks.push({
    id: `${family}-b64-${idx}`,
    label: 'attack',
    category: family,
    request: { ...PLACES.body(''), body: { template: Buffer.from(p).toString('base64') } },
  });
}

// ---------------------------------------------------------------------------------------------
// Benign traffic.

const email = (f, l) =>
  `${f}.${l}`
    .normalize('NFD')
    .replace(/[^\w.]/g, '')
    .toLowerCase() +
  '@' +
  pick(T.DOMAINS);
const sentences = (n) =>
  Array.from({ length: n }, () => pick(T.SENTENCES)).join(pick([' ', '\n', '\n\n']));

const BENIGN = {
  profile: () => {
    const f = pick(T.FIRST);
    const l = pick(T.LAST);
    return {
      method: pick(['POST', 'PUT']),
      path: pick(['/accounts', `/accounts/${int(1, 9999)}`]),
      query: '',
      headers: jsonHeaders(),
      body: {
        firstName: f,
        lastName: l,
        displayName: `${f} ${l}`,
        email: email(f, l),
        phone: `+${int(1, 99)} ${int(100, 999)} ${int(1000, 9999)}`,
        address: {
          street: pick(T.STREETS),
          city: pick(T.CITIES),
          postcode: `${int(10000, 99999)}`,
        },
        bio: rand() < 0.5 ? sentences(1) : undefined,
        marketing: rand() < 0.5,
      },
    };
  },
  comment: () => ({
    method: 'POST',
    path: '/tickets',
    query: '',
    headers: jsonHeaders(),
    body: {
      subject: pick(T.SENTENCES).slice(0, 40),
      message: sentences(int(1, 4)),
      tags: [pick(T.TAGS), pick(T.TAGS)],
      priority: int(1, 3),
    },
  }),
  code: () => ({
    method: 'POST',
    path: '/forum/posts',
    query: '',
    headers: jsonHeaders(),
    body: {
      title: `Question about ${pick(['the SDK', 'webhooks', 'pagination', 'auth', 'exports'])}`,
      body: `${sentences(1)}\n\n${pick(T.CODE)}\n\n${sentences(1)}`,
      language: pick(['js', 'python', 'sql', 'shell', 'java']),
    },
  }),
  urls: () => ({
    method: 'POST',
    path: '/bookmarks',
    query: '',
    headers: { ...jsonHeaders(), referer: pick(T.URLS) },
    body: {
      url: pick(T.URLS),
      title: pick(T.SENTENCES).slice(0, 30),
      note: rand() < 0.5 ? `see ${pick(T.URLS)}` : '',
    },
  }),
  markdown: () => ({
    method: 'PUT',
    path: `/posts/${int(1, 500)}`,
    query: '',
    headers: jsonHeaders(),
    body: {
      title: pick(T.SENTENCES).slice(0, 50),
      body: `${pick(T.MARKDOWN)}\n\n${pick(T.MARKDOWN)}`,
      draft: rand() < 0.3,
    },
  }),
  search: () => ({
    method: 'GET',
    path: pick(['/products', '/search', '/orders']),
    query: `q=${encodeURIComponent(pick(T.SEARCH))}&page=${int(1, 20)}&sort=${pick(['price', '-price', 'name', 'created_at'])}${rand() < 0.3 ? `&category=${encodeURIComponent(pick(['home & garden', "men's", 'toys/games', 'c++']))}` : ''}`,
    headers: {
      ...baseHeaders(),
      referer: pick(T.URLS),
      cookie: `session=${Buffer.from(String(rand())).toString('base64url')}; prefs=${encodeURIComponent('{"theme":"dark","lang":"en"}')}; _ga=GA1.2.${int(1e8, 9e8)}.${int(1e9, 2e9)}`,
    },
  }),
  order: () => ({
    method: 'POST',
    path: '/orders',
    query: '',
    headers: { ...jsonHeaders(), 'idempotency-key': `${int(1e8, 9e8)}-${int(1e3, 9e3)}` },
    body: {
      customer: { id: `c-${int(1, 99999)}`, name: `${pick(T.FIRST)} ${pick(T.LAST)}` },
      items: Array.from({ length: int(1, 4) }, () => ({
        sku: `SKU-${int(100, 999)}`,
        qty: int(1, 5),
        note: rand() < 0.3 ? pick(T.SENTENCES) : undefined,
      })),
      coupon: rand() < 0.3 ? pick(['SAVE-20', 'WELCOME10', "MUM'S-DAY"]) : null,
      giftMessage: rand() < 0.3 ? pick(T.SENTENCES) : undefined,
      shipping: {
        address: pick(T.STREETS),
        city: pick(T.CITIES),
        instructions: rand() < 0.4 ? pick(T.SENTENCES) : '',
      },
    },
  }),
};
const COUNTS = {
  profile: 200,
  comment: 250,
  code: 150,
  urls: 150,
  markdown: 120,
  search: 200,
  order: 150,
};

const benign = [];
for (const [category, n] of Object.entries(COUNTS)) {
  for (let i = 0; i < n; i++) {
    benign.push({ id: `${category}-${i}`, label: 'benign', category, request: BENIGN[category]() });
  }
}

const lines = (records) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';
writeFileSync(new URL('attacks.jsonl', DIR), lines(attacks));
writeFileSync(new URL('benign.jsonl', DIR), lines(benign));
console.log(
  `wrote ${attacks.length} attack and ${benign.length} benign requests to eval/detection/corpus/`,
);
