import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A new EC P-256 key, for openssl req. */
const EC_P256_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

function openssl(args: readonly string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

/** A new key and a certificate it signs itself, valid two days, with these `-addext` values. */
function writeSelfSigned(
  newKey: readonly string[],
  files: { certFile: string; keyFile: string },
  subject: string,
  extensions: readonly string[],
): void {
  openssl([
    'req',
    '-x509',
    ...newKey,
    '-nodes',
    '-keyout',
    files.keyFile,
    '-out',
    files.certFile,
    '-days',
    '2',
    '-subj',
    subject,
    ...extensions.flatMap((e) => ['-addext', e]),
  ]);
}

/** The files openssl wrote, and their text. */
function readPair(
  certFile: string,
  keyFile: string,
): { certFile: string; keyFile: string; cert: string; key: string } {
  return {
    certFile,
    keyFile,
    cert: readFileSync(certFile, 'utf8'),
    key: readFileSync(keyFile, 'utf8'),
  };
}

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
  writeSelfSigned(
    keyType === 'ec' ? EC_P256_KEY : ['-newkey', 'rsa:2048'],
    { certFile, keyFile },
    '/CN=localhost',
    ['subjectAltName=DNS:localhost,IP:127.0.0.1'],
  );
  const pair = readPair(certFile, keyFile);
  return { ...pair, fingerprint256: new X509Certificate(pair.cert).fingerprint256 };
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
  writeSelfSigned(EC_P256_KEY, { certFile, keyFile }, `/CN=${name}`, [
    'basicConstraints=critical,CA:TRUE',
    'keyUsage=critical,keyCertSign',
  ]);
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
  openssl([
    'req',
    ...EC_P256_KEY,
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    csr,
    '-subj',
    `/CN=${opts.cn}`,
  ]);
  openssl([
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
  ]);
  const pair = readPair(certFile, keyFile);
  return {
    ...pair,
    thumbprint: createHash('sha256').update(new X509Certificate(pair.cert).raw).digest('base64url'),
  };
}
