import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { ConsumerConfig } from '../../../config/authn-schema.js';
import type { DenialAudit } from '../../../gateway/problems.js';
import { fingerprint } from '../../../state/audit/fingerprint.js';
import type {
  AuthnDeps,
  AuthOutcome,
  Authenticator,
  ConsumerRecord,
  Presented,
} from '../authenticator.js';
import { consumerRecord } from '../consumer-record.js';
import { unauthenticated } from '../refusal.js';
import { certificateNames, normalizedAltName } from './certificate-subjects.js';

/** What `find` read from the connection, for `authenticate` of the same request. */
interface PeerCertificateSeen {
  readonly socket: TLSSocket;
  readonly cert: PeerCertificate;
}

function peerCertificate(raw: IncomingMessage): PeerCertificateSeen | undefined {
  const socket = raw.socket as Partial<TLSSocket> | null;
  // Only the https listener's sockets are TLS sockets; a plain HTTP request has no certificate.
  if (socket === null || typeof socket.getPeerCertificate !== 'function') return undefined;
  const cert = socket.getPeerCertificate(false) as PeerCertificate | null;
  // No certificate sent: Node answers with an empty object.
  if (cert === null || !Buffer.isBuffer(cert.raw) || cert.raw.length === 0) return undefined;
  return { socket: socket as TLSSocket, cert };
}

/**
 * Certificate names to consumer ids, built once per config. A name two consumers claim is a
 * configuration error: whichever were picked, the other consumer could be impersonated.
 */
function indexOf(consumers: readonly ConsumerConfig[]): {
  subjects: Map<string, string>;
  sans: Map<string, string>;
} {
  const subjects = new Map<string, string>();
  const sans = new Map<string, string>();
  const add = (index: Map<string, string>, name: string, id: string, what: string) => {
    const other = index.get(name);
    if (other !== undefined && other !== id)
      throw new Error(`consumers ${other} and ${id} both claim the certificate ${what} ${name}`);
    index.set(name, id);
  };
  for (const c of consumers) {
    for (const cn of c.mtls.subjects) add(subjects, cn, c.id, 'subject');
    for (const san of c.mtls.sans) add(sans, normalizedAltName(san), c.id, 'SAN');
  }
  return { subjects, sans };
}

/**
 * The `mtls` method: a client certificate that chains to `listeners.https.clientCa`, whose
 * subject CN or one of whose SANs a consumer claims (`consumers[].mtls`). The TLS handshake
 * asks for a certificate without requiring one (routes without mtls serve clients that have
 * none), so the verification result is checked here: a certificate the handshake could not
 * verify is refused, never mapped.
 */
export function createMtlsAuthenticator(
  consumers: readonly ConsumerConfig[],
  deps: AuthnDeps,
): Authenticator {
  const { subjects, sans } = indexOf(consumers);
  const declared = new Map(consumers.map((c) => [c.id, consumerRecord(c, 'config')]));
  // Per request, from `find` to `authenticate`: the certificate is read from the socket once.
  const seen = new WeakMap<IncomingMessage, PeerCertificateSeen>();

  const consumerOf = (id: string): ConsumerRecord | undefined =>
    deps.consumers.get(id) ?? declared.get(id);

  return {
    method: 'mtls',
    challenge: undefined,
    find(ctx): Presented | undefined {
      const peer = peerCertificate(ctx.raw);
      if (peer === undefined) return undefined;
      seen.set(ctx.raw, peer);
      return {
        value: createHash('sha256').update(peer.cert.raw).digest('base64url'),
        where: 'certificate',
      };
    },
    authenticate(_presented, ctx): AuthOutcome {
      const peer = seen.get(ctx.raw) ?? peerCertificate(ctx.raw);
      if (peer === undefined) {
        // find() saw a certificate on this request's connection; nothing else can have one.
        throw new Error('mtls: authenticate called for a request without a client certificate');
      }
      const { socket, cert } = peer;
      // `fp:` and the first 12 hex digits of the SHA-256 thumbprint: what
      // `openssl x509 -noout -fingerprint -sha256` prints, lower-cased and without colons.
      const credential = fingerprint(cert.raw);
      const audit = (details: DenialAudit['details'], consumer?: string): DenialAudit => ({
        credential,
        ...(consumer === undefined ? {} : { consumer }),
        details: { method: 'mtls', ...details },
      });

      if (socket.authorized !== true) {
        // Node reports the OpenSSL verification error as a string code; kept short and flat.
        const error = String(socket.authorizationError ?? 'unknown').slice(0, 64);
        if (error === 'CERT_HAS_EXPIRED' || error === 'CERT_NOT_YET_VALID')
          return {
            ok: false,
            denial: unauthenticated('authn.mtls.expired', undefined, audit({ error })),
          };
        return {
          ok: false,
          denial: unauthenticated('authn.mtls.untrusted', undefined, audit({ error })),
        };
      }

      const names = certificateNames(cert);
      const ids: string[] = [];
      const claim = (id: string | undefined) => {
        if (id !== undefined && !ids.includes(id)) ids.push(id);
      };
      for (const cn of names.commonNames) claim(subjects.get(cn));
      for (const san of names.altNames) claim(sans.get(san));
      const [id] = ids;
      if (id === undefined)
        return {
          ok: false,
          denial: unauthenticated('authn.mtls.unknown_subject', undefined, audit({})),
        };
      if (ids.length > 1) {
        // One certificate, two consumers: picking either would let it act as the other.
        return {
          ok: false,
          denial: unauthenticated(
            'authn.mtls.ambiguous_subject',
            undefined,
            audit({ consumers: ids.sort().join(' ').slice(0, 256) }),
          ),
        };
      }
      const consumer = consumerOf(id);
      // Disabled in the config or in the store: either one refuses.
      if (consumer === undefined || consumer.disabled || declared.get(id)?.disabled === true)
        return {
          ok: false,
          denial: unauthenticated('authn.mtls.consumer_disabled', undefined, audit({}, id)),
        };
      return {
        ok: true,
        identity: {
          consumerId: consumer.id,
          method: 'mtls',
          credential,
          scopes: consumer.scopes,
          roles: consumer.roles,
          metadata: consumer.metadata,
        },
      };
    },
  };
}
