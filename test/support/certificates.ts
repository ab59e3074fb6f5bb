import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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

export interface CertificateAuthority {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
}

export interface ClientCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
  /** RFC 8705 `x5t#S256`: base64url SHA-256 of the DER certificate. */
  readonly thumbprint: string;
}

/** A self-signed CA (EC P-256) in `dir`, named `name`, to sign client certificates with. */
export function certificateAuthority(dir: string, name: string): CertificateAuthority {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign',
    ],
    { stdio: 'pipe' },
  );
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8') };
}

/**
 * A client certificate signed by `ca`, with subject CN `cn` and the SANs given as Node prints
 * them (`DNS:x`, `URI:spiffe://...`, `email:...`). Each SAN value is written to an openssl
 * config line as is, so a hostile value (`evil, URI:spiffe://trusted`) stays one SAN.
 * `days: -1` makes a certificate that has already expired.
 */
export function clientCertificate(
  ca: CertificateAuthority,
  dir: string,
  name: string,
  opts: { cn: string; sans?: readonly string[]; days?: number },
): ClientCertificate {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  const counts = new Map<string, number>();
  const alt = (opts.sans ?? []).map((san) => {
    const at = san.indexOf(':');
    const type = san.slice(0, at);
    const n = (counts.get(type) ?? 0) + 1;
    counts.set(type, n);
    return `${type}.${n} = ${san.slice(at + 1)}`;
  });
  writeFileSync(
    ext,
    [
      '[v3]',
      'basicConstraints = CA:FALSE',
      'extendedKeyUsage = clientAuth',
      ...(alt.length > 0 ? ['subjectAltName = @alt', '[alt]', ...alt] : []),
      '',
    ].join('\n'),
  );
  execFileSync(
    'openssl',
    [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      csr,
      '-subj',
      `/CN=${opts.cn}`,
    ],
    { stdio: 'pipe' },
  );
  execFileSync(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.certFile,
      '-CAkey',
      ca.keyFile,
      '-set_serial',
      `0x${randomBytes(8).toString('hex')}`,
      '-out',
      certFile,
      '-days',
      String(opts.days ?? 2),
      '-extfile',
      ext,
      '-extensions',
      'v3',
    ],
    { stdio: 'pipe' },
  );
  const cert = readFileSync(certFile, 'utf8');
  return {
    certFile,
    keyFile,
    cert,
    key: readFileSync(keyFile, 'utf8'),
    thumbprint: createHash('sha256').update(new X509Certificate(cert).raw).digest('base64url'),
  };
}
