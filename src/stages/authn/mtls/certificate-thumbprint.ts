import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { RequestContext } from '../../../gateway/stage.js';

/**
 * RFC 8705 section 3.1: `x5t#S256`, the base64url SHA-256 of the DER client certificate the
 * request's connection presented; undefined on plain HTTP or without a certificate.
 */
export function clientCertificateThumbprint(ctx: RequestContext): string | undefined {
  const socket = ctx.raw.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  const cert = socket.getPeerCertificate(false);
  if (cert === null || cert.raw === undefined) return undefined;
  return createHash('sha256').update(cert.raw).digest('base64url');
}
