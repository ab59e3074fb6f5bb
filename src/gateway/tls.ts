import { readFileSync } from 'node:fs';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import type { HttpsListenerConfig } from '../config/schema.js';

/**
 * Modern suites only: forward-secret ECDHE with AEAD ciphers for TLS 1.2, and the TLS 1.3 suites.
 * No CBC, no RSA key exchange, no SHA-1 MACs.
 */
export const CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * Certificate, key and the client certificate CA, read from their files: at start and again on
 * every reload (SIGHUP), so a renewed certificate or CA bundle takes effect without a restart.
 */
export function secureContextOptions(cfg: HttpsListenerConfig): SecureContextOptions {
  return {
    cert: readFileSync(cfg.cert),
    key: readFileSync(cfg.key),
    minVersion: cfg.minVersion,
    ciphers: CIPHERS,
    honorCipherOrder: true,
    // `ca` replaces the system roots for verifying client certificates: a certificate a public
    // CA issued to anyone must never pass for one of ours.
    ...(cfg.clientCa === undefined ? {} : { ca: readFileSync(cfg.clientCa) }),
  };
}

export function tlsServerOptions(cfg: HttpsListenerConfig): TlsOptions {
  return {
    ...secureContextOptions(cfg),
    ALPNProtocols: ['http/1.1'],
    // Asked for, not required: routes without the mtls method serve clients without a
    // certificate, and the mtls method refuses one that did not verify (socket.authorized).
    ...(cfg.clientCa === undefined ? {} : { requestCert: true, rejectUnauthorized: false }),
  };
}
