import { generateKeyPairSync } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createOpsServer, type OpsServerOptions } from '../../src/ops/ops-server.js';

let server: Server | undefined;

async function serve(opts?: OpsServerOptions): Promise<string> {
  const s = createOpsServer(() => true, opts);
  server = s;
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

afterEach(async () => {
  const s = server;
  server = undefined;
  if (s !== undefined) await new Promise((resolve) => s.close(resolve));
});

describe('the JWKS of the ops listener', () => {
  it('is 404 when the gateway has no identity keys to publish', async () => {
    const base = await serve();
    const res = await fetch(`${base}/.well-known/jwks.json`);
    expect(res.status).toBe(404);
  });

  it.each([
    ['an RSA private key', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey],
    ['an EC private key', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey],
    ['an Ed25519 private key', generateKeyPairSync('ed25519').privateKey],
  ])('never serves the private members of %s handed to it by mistake', async (_, key) => {
    const jwk = key.export({ format: 'jwk' });
    const secretOf = (j: typeof jwk) => String(j.d);
    const base = await serve({ jwks: () => ({ keys: [{ ...jwk, kid: 'k1' }] }) });

    const res = await fetch(`${base}/.well-known/jwks.json`);
    const text = await res.text();

    expect(res.status).toBe(200);
    const served = (JSON.parse(text) as { keys: Record<string, unknown>[] }).keys[0] ?? {};
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi'])
      expect(served).not.toHaveProperty(member);
    expect(text).not.toContain(secretOf(jwk));
    // The public members are all still there.
    expect(served).toMatchObject({ kty: jwk.kty, kid: 'k1' });
  });

  it('answers 503 without a body of keys when the provider fails', async () => {
    const base = await serve({
      jwks: () => {
        throw new Error('not opened');
      },
    });
    const res = await fetch(`${base}/.well-known/jwks.json`);
    expect(res.status).toBe(503);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('keeps /healthz and /readyz as they were', async () => {
    const base = await serve({ jwks: () => ({ keys: [] }) });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/.well-known/jwks.json?x=1`)).status).toBe(200);
  });
});
