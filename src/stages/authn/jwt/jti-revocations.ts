import type { ClusterState } from '../../../state/cluster/cluster-state.js';

/** The mirrored cluster-state set of revoked tokens: members `<issuer name>:<jti>`. */
export const REVOKED_JTI_SET = 'authn:revoked-jti';

/** What the authenticator asks, on every request, synchronously. */
export interface JtiRevocationCheck {
  isRevoked(issuerName: string, jti: string): boolean;
}

function memberOf(issuerName: string, jti: string): string {
  return `${issuerName}:${jti}`;
}

/**
 * Tokens revoked by their `jti` before they expire (`portcullis tokens revoke`). A mirrored set
 * in cluster state: every node answers `isRevoked` from memory and sees a revocation made on any
 * node within a second. Each member expires when the token would have (a token past its `exp`
 * is refused anyway), so the set holds only what is still needed. A jti is an identifier, not
 * a secret: it is stored as is.
 */
export class JtiRevocations implements JtiRevocationCheck {
  readonly #cluster: ClusterState;

  private constructor(cluster: ClusterState) {
    this.#cluster = cluster;
  }

  /**
   * Declares the mirror and resolves once it is loaded; rejects (PCL_CLUSTER_UNAVAILABLE) when
   * the shared state cannot be reached, the set staying declared and loading once it can.
   */
  static async open(cluster: ClusterState): Promise<JtiRevocations> {
    const revocations = new JtiRevocations(cluster);
    await cluster.mirrorSet(REVOKED_JTI_SET);
    return revocations;
  }

  /** For writers (the CLI): marks without keeping a mirror of the set. */
  static writer(cluster: ClusterState): Pick<JtiRevocations, 'revoke'> {
    return new JtiRevocations(cluster);
  }

  isRevoked(issuerName: string, jti: string): boolean {
    return this.#cluster.has(REVOKED_JTI_SET, memberOf(issuerName, jti));
  }

  /** Revokes until `untilMs` (epoch milliseconds, after `nowMs`), on every node. */
  async revoke(issuerName: string, jti: string, untilMs: number, nowMs: number): Promise<void> {
    const ttl = Math.ceil(untilMs - nowMs);
    if (!(ttl >= 1)) throw new RangeError('a revocation must last until a time in the future');
    await this.#cluster.markSet(REVOKED_JTI_SET, memberOf(issuerName, jti), ttl);
  }
}
