import type { PeerCertificate } from 'node:tls';

/**
 * The names a client certificate can be known by: each subject common name (`CN`) and each
 * subject alternative name exactly as Node prints it (`DNS:api.example.com`,
 * `URI:spiffe://example.org/app`, `email:ops@example.com`, `IP Address:10.0.0.1`).
 */
export interface CertificateNames {
  readonly commonNames: readonly string[];
  readonly altNames: readonly string[];
}

/**
 * Node prints SANs as `TYPE:value, TYPE:value` and quotes (JSON, with `,` as `\u002c`) any value
 * holding a comma, a quote or a non-printable character (CVE-2021-44532). So `, ` only ever
 * separates entries: a DNS name `evil.com, URI:spiffe://trusted` stays one quoted DNS entry
 * (`DNS:"evil.com\u002c URI:spiffe://trusted"`) and can never be read as the trusted URI.
 * Entries are compared as printed, never unquoted.
 */
function altNamesOf(subjectaltname: string | undefined): string[] {
  if (subjectaltname === undefined || subjectaltname === '') return [];
  return subjectaltname.split(', ').map(normalizedAltName);
}

function commonNamesOf(cert: PeerCertificate): string[] {
  // A subject with several CNs is printed as an array.
  const cn: unknown = (cert.subject as unknown as Record<string, unknown> | undefined)?.CN;
  if (typeof cn === 'string') return [cn];
  if (Array.isArray(cn)) return cn.filter((v): v is string => typeof v === 'string');
  return [];
}

export function certificateNames(cert: PeerCertificate): CertificateNames {
  return { commonNames: commonNamesOf(cert), altNames: altNamesOf(cert.subjectaltname) };
}

/** A configured SAN in the form it is compared in: DNS names without case, the rest as given. */
export function normalizedAltName(san: string): string {
  return san.startsWith('DNS:') ? `DNS:${san.slice(4).toLowerCase()}` : san;
}
