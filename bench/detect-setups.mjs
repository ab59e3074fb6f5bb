// The attack-detection setup of `npm run bench`: the pass-through route with the `detect` stage
// at its defaults (paranoia 1), on a typical request of the demo's clients: GET /catalog with a
// search query, a browser's headers and cookies. Every value is inspected and nothing is
// refused, so what is measured is the cost of looking, compared with portcullis-passthrough.
// (The benchmark's load is GET-only; the demo's requests with JSON bodies are timed in process
// by bench/detect-inprocess.mjs, with this request.)

export const QUERY =
  'q=women%27s+running+shoes&category=sport+%26+outdoor&sort=-price&page=2&size=24' +
  '&filter=brand%3Aacme%2Ccolor%3Ablue&ref=https%3A%2F%2Fwww.example.com%2Fnewsletter%3Fid%3D42';

export const HEADERS = {
  'user-agent':
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
  accept: 'application/json',
  'accept-language': 'en-GB,en;q=0.9,fr;q=0.6',
  referer: 'https://shop.example.com/search?q=running+shoes',
  cookie:
    'session=Zm9vYmFyYmF6cXV4MTIzNDU2; prefs=%7B%22theme%22%3A%22dark%22%7D; _ga=GA1.2.1234.5678',
};

/** The pass-through route loaded with the same request: what detection is compared with. */
export const DETECT_BASELINE = {
  name: 'portcullis-passthrough-search',
  kind: 'portcullis',
  stages: [],
  workers: 1,
  query: QUERY,
  headers: HEADERS,
};

export const DETECT_SETUPS = [
  {
    name: 'portcullis-detect',
    kind: 'portcullis',
    stages: [{ type: 'detect' }],
    workers: 1,
    query: QUERY,
    headers: HEADERS,
  },
];
