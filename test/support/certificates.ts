import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface SelfSigned {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
  /** SHA-256 fingerprint as Node's getPeerCertificate() reports it (AA:BB:...). */
  readonly fingerprint256: string;
}

/**
 * Writes a self-signed certificate for localhost and 127.0.0.1 with the openssl CLI into
 * `certFile` and `keyFile` (overwriting them): EC P-256 by default, RSA 2048 on request.
 * Self-signed, it is its own CA: a client trusts it by passing it as `ca`.
 */
export function selfSignedCertificate(
  certFile: string,
  keyFile: string,
  keyType: 'ec' | 'rsa' = 'ec',
): SelfSigned {
  const newkey =
    keyType === 'ec'
      ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']
      : ['-newkey', 'rsa:2048'];
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      ...newkey,
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'pipe' },
  );
  const cert = readFileSync(certFile, 'utf8');
  return {
    certFile,
    keyFile,
    cert,
    key: readFileSync(keyFile, 'utf8'),
    fingerprint256: new X509Certificate(cert).fingerprint256,
  };
}
