// The authorization setups of `npm run bench`: the demo's account route (GET
// /accounts/:accountId, the demo upstream answering), authenticated with an API key, once with
// authentication only and once with the demo's authorization rules for it (examples/portcullis.yaml,
// route `accounts`: a scope, an ownership lookup to the upstream, hidden existence, an admin
// bypass and a response filter). Both send alice's key for her own account on every request:
// what is measured is the steady state, with the ownership lookup answered from its cache.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { httpGet } from './children.mjs';

const run = promisify(execFile);

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEMO_CONFIG = path.join(ROOT, 'examples/portcullis.yaml');
/** Where examples/portcullis.yaml expects the demo upstream. */
const EXAMPLE_UPSTREAM = 'http://127.0.0.1:3000';
/** The demo route whose rules are measured. */
const DEMO_ROUTE = 'accounts';
const OWN_ACCOUNT = '/accounts/acc_1001';
const FOREIGN_ACCOUNT = '/accounts/acc_1002';

/** The setups: the same route and request, without and with the demo's authorization. */
export const AUTHZ_SETUPS = [
  {
    name: 'portcullis-authz-authn-only',
    kind: 'portcullis',
    stages: [],
    workers: 1,
    authz: 'none',
    path: OWN_ACCOUNT,
  },
  {
    name: 'portcullis-authz-demo',
    kind: 'portcullis',
    stages: [],
    workers: 1,
    authz: 'demo',
    path: OWN_ACCOUNT,
  },
];

/** The demo config's consumer alice and its `accounts` route, aimed at this run's upstream. */
function demoParts(upstreamUrl) {
  const text = readFileSync(DEMO_CONFIG, 'utf8').replaceAll(EXAMPLE_UPSTREAM, upstreamUrl);
  const demo = YAML.parse(text);
  const alice = demo.consumers.find((c) => c.id === 'alice');
  const route = demo.routes.find((r) => r.name === DEMO_ROUTE);
  if (alice === undefined || route?.authz === undefined)
    throw new Error(`${DEMO_CONFIG}: no consumer alice or no route ${DEMO_ROUTE} with authz`);
  return { alice, route, adminRole: demo.authz?.adminRole };
}

/**
 * Turns the pass-through config into the setup's: alice as the consumer, the demo's account
 * route with API keys, and either the demo's `authz` of that route or `anyAuthenticated`.
 */
export function applyAuthz(config, setup, { upstreamUrl }) {
  const { alice, route, adminRole } = demoParts(upstreamUrl);
  config.consumers = [alice];
  if (adminRole !== undefined) config.authz = { ...config.authz, adminRole };
  const r = config.routes[0];
  r.name = route.name;
  r.paths = route.paths;
  r.methods = route.methods;
  r.auth = { methods: ['api-key'] };
  r.authz = setup.authz === 'demo' ? route.authz : { anyAuthenticated: true };
}

/** Alice's API key, made with `portcullis keys create` against the setup's own store. */
export async function authzCredentialHeaders(setup, { cli, configFile, env }) {
  const { stdout } = await run(
    process.execPath,
    [cli, 'keys', 'create', '--consumer', 'alice', '-c', configFile],
    { env },
  );
  return { 'x-api-key': stdout.trim() };
}

/**
 * What each setup must do before it is measured: authentication only lets alice read any
 * account, with every property the upstream sends; the demo's rules hide bob's account (404)
 * and remove internalRiskScore from hers.
 */
export async function checkAuthzSetup(setup, base, headers) {
  const own = await httpGet(`${base}${OWN_ACCOUNT}`, { headers });
  const foreign = await httpGet(`${base}${FOREIGN_ACCOUNT}`, { headers });
  const problems = [];
  if (own.status !== 200) problems.push(`GET ${OWN_ACCOUNT}: ${own.status}, not 200`);
  const filtered = !own.body.toString('utf8').includes('internalRiskScore');
  if (setup.authz === 'demo') {
    if (foreign.status !== 404) problems.push(`GET ${FOREIGN_ACCOUNT}: ${foreign.status}, not 404`);
    if (!filtered) problems.push(`GET ${OWN_ACCOUNT}: internalRiskScore was not removed`);
  } else {
    if (foreign.status !== 200) problems.push(`GET ${FOREIGN_ACCOUNT}: ${foreign.status}, not 200`);
    if (filtered) problems.push(`GET ${OWN_ACCOUNT}: the upstream's internalRiskScore is missing`);
  }
  if (problems.length) throw new Error(`${setup.name}: ${problems.join('; ')}`);
}
