import { openClusterState } from '../state/cluster/open-cluster-state.js';
import { JtiRevocations } from '../stages/authn/jwt/jti-revocations.js';
import { MAX_JTI_CHARS } from '../stages/authn/jwt/jwt-claims.js';
import { pino } from 'pino';
import { AdminError } from './admin-error.js';
import { AdminSession } from './admin-session.js';

export interface TokensRevokeOptions {
  readonly config: string;
  readonly issuer: string;
  readonly jti: string;
  readonly until: string;
  readonly json?: boolean;
}

// A time of day needs its zone: "10:00" alone would be read in the machine's zone (ambiguous).
const ISO_WITH_ZONE =
  /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?(?:Z|[+-][0-9]{2}:[0-9]{2})$/;
const EPOCH_SECONDS = /^[0-9]{1,12}$/;

/** `--until`: epoch seconds (a token's `exp` as is) or an ISO 8601 date-time with a zone. */
function untilMs(value: string): number {
  if (EPOCH_SECONDS.test(value)) return Number(value) * 1000;
  const ms = ISO_WITH_ZONE.test(value) ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms)) {
    throw new AdminError(
      'PCL_ADMIN_INVALID',
      `--until ${JSON.stringify(value)}: expected the token's exp in epoch seconds (1767229200) or an ISO 8601 time with a zone (2026-01-01T01:00:00Z)`,
    );
  }
  return ms;
}

/** A jti as tokens carry it: 1 to 256 characters, none of them a control character. */
function checkJti(jti: string): void {
  let control = false;
  for (let i = 0; i < jti.length; i++) {
    const c = jti.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) control = true;
  }
  if (jti.length === 0 || jti.length > MAX_JTI_CHARS || control) {
    throw new AdminError(
      'PCL_ADMIN_INVALID',
      `--jti: expected the token's jti claim, 1 to ${MAX_JTI_CHARS} characters without control characters`,
    );
  }
}

/**
 * `portcullis tokens revoke --issuer NAME --jti ID --until TIME`: every gateway refuses the
 * issuer's token with that jti (`authn.jwt.revoked`) within a second, until TIME (its `exp`:
 * after it the token is refused as expired anyway). The revocation lives in cluster state, a set
 * every gateway mirrors, so Redis is required: without it each gateway's state is in its own
 * process, out of any command's reach. Records `credential.revoke` with the issuer and the jti.
 */
export async function runTokensRevoke(opts: TokensRevokeOptions): Promise<void> {
  await AdminSession.run(opts.config, async (session) => {
    const issuers = session.config.authn.issuers;
    if (!Object.hasOwn(issuers, opts.issuer)) {
      const known = Object.keys(issuers).sort().join(', ') || '(none)';
      throw new AdminError(
        'PCL_ADMIN_NOT_FOUND',
        `no issuer ${JSON.stringify(opts.issuer)} in authn.issuers; known: ${known}`,
      );
    }
    checkJti(opts.jti);
    const until = untilMs(opts.until);
    const now = session.clock.now();
    if (until <= now) {
      throw new AdminError(
        'PCL_ADMIN_INVALID',
        `--until ${new Date(until).toISOString()} is past: a token past its exp is refused as expired already`,
      );
    }
    const cfg = session.config.state.cluster;
    if (cfg.redisUrl === undefined) {
      throw new AdminError(
        'PCL_ADMIN_INVALID',
        'state.cluster.redisUrl is not set: each gateway keeps its revocations in its own process, which this command cannot reach; configure Redis (docs/cluster-state.md)',
      );
    }
    // Not the session's cluster state: that one treats Redis as optional, with the store as
    // the fallback, and a revoked jti has no other home than cluster state.
    const cluster = openClusterState(cfg, { clock: session.clock, log: pino({ level: 'silent' }) });
    try {
      await cluster.ready();
      await JtiRevocations.writer(cluster).revoke(opts.issuer, opts.jti, until, now);
    } finally {
      await cluster.close().catch(() => undefined);
    }
    const iso = new Date(until).toISOString();
    await session.record({
      action: 'credential.revoke',
      target: `jwt:${opts.issuer}`,
      details: { method: `jwt:${opts.issuer}`, issuer: opts.issuer, jti: opts.jti, until: iso },
    });
    process.stdout.write(
      opts.json === true
        ? `${JSON.stringify({ issuer: opts.issuer, jti: opts.jti, until: iso, revoked: true })}\n`
        : `jti ${opts.jti} of issuer ${opts.issuer} revoked until ${iso}: every gateway refuses the token within a second\n`,
    );
  });
}
