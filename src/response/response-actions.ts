import { announceBlocksChanged } from '../stages/blocks/blocks-service.js';
import { BlockStore, type ThrottleRate } from '../state/blocks/block-store.js';
import type { ClusterState } from '../state/cluster/cluster-state.js';
import { ApiKeyStore } from '../state/consumers/api-key-store.js';
import {
  announceConsumersChanged,
  announceRevocation,
} from '../state/consumers/change-announcements.js';
import { ConsumerStore } from '../state/consumers/consumer-store.js';
import type { Db } from '../state/db.js';

/** What a playbook (or a human approving its proposal) does to a detection's subject. */
export type SubjectAction =
  | { readonly action: 'block'; readonly seconds: number }
  | { readonly action: 'throttle'; readonly seconds: number; readonly rate: ThrottleRate }
  | { readonly action: 'revoke' };

export interface ActionSubject {
  readonly kind: 'ip' | 'consumer' | 'credential';
  readonly value: string;
}

/**
 * How it ended. `done`: carried out, `ref` names what it made or changed (a block, a throttle,
 * a key id, a consumer) and `summary` says it for the incident's timeline. `unchanged`: it was
 * so already (a key revoked before). `not_applicable`: there is nothing this action can do to
 * that subject, `why` says what.
 */
export type ActionOutcome =
  | { readonly status: 'done' | 'unchanged'; readonly ref: string; readonly summary: string }
  | { readonly status: 'not_applicable'; readonly why: string };

export interface ActionDeps {
  readonly db: Db;
  /** Where every gateway is told at once (they read the store within a second regardless). */
  readonly announce: (announce: (cluster: ClusterState) => Promise<void>) => Promise<void>;
  readonly now: () => number;
}

/**
 * Carries out a block, throttle or revoke on a subject (docs/response.md, "Playbooks"): a block
 * and a throttle are block records every gateway follows; a revoke revokes the API key the
 * credential fingerprint names, or disables the consumer, through the same paths as
 * `portcullis keys revoke` and `consumers disable`. Throws when the store cannot be written.
 */
export async function carryOut(
  what: SubjectAction,
  subject: ActionSubject,
  meta: { readonly reason: string; readonly actor: string; readonly incidentId?: string },
  deps: ActionDeps,
): Promise<ActionOutcome> {
  if (what.action === 'revoke') return revoke(subject, deps);
  const made = await new BlockStore(deps.db, deps.now).add({
    kind: subject.kind,
    subject: subject.value,
    reason: meta.reason,
    actor: meta.actor,
    ttlMs: what.seconds * 1000,
    ...(what.action === 'throttle' ? { throttle: what.rate } : {}),
    ...(meta.incidentId === undefined || meta.incidentId === ''
      ? {}
      : { incidentId: meta.incidentId }),
  });
  await deps.announce(announceBlocksChanged);
  const how =
    what.action === 'throttle'
      ? `throttled to ${what.rate.limit} per ${what.rate.windowSeconds} s`
      : 'blocked';
  return {
    status: 'done',
    ref: made.id,
    summary: `${how} ${subject.kind} ${subject.value} for ${what.seconds} s (${made.id})`,
  };
}

async function revoke(subject: ActionSubject, deps: ActionDeps): Promise<ActionOutcome> {
  switch (subject.kind) {
    case 'ip':
      return { status: 'not_applicable', why: 'an address has no credential to revoke' };
    case 'consumer': {
      // A consumer has many credentials: revoking "the consumer" disables it, every one of them.
      const result = await new ConsumerStore(deps.db, deps.now).setDisabled(subject.value, true);
      if (result === undefined) {
        return {
          status: 'not_applicable',
          why: 'the consumer is not in the store (one of the config file is changed there)',
        };
      }
      if (result.changed) await deps.announce(announceConsumersChanged);
      return {
        status: result.changed ? 'done' : 'unchanged',
        ref: `consumer:${subject.value}`,
        summary: `disabled consumer ${subject.value}`,
      };
    }
    case 'credential': {
      const store = new ApiKeyStore(deps.db, deps.now);
      const keys = await store.withFingerprint(subject.value);
      const [only] = keys;
      // A token (JWT, introspection) or a certificate is named by its fingerprint only, which
      // gives neither its issuer nor its jti; two keys sharing a fingerprint are left alone
      // rather than revoking one the detection may not be about.
      if (only === undefined || keys.length > 1) {
        return {
          status: 'not_applicable',
          why:
            keys.length > 1
              ? 'more than one API key has this fingerprint'
              : 'not an API key of the store (a token or certificate: block its fingerprint instead)',
        };
      }
      const result = await store.revoke(only.id);
      if (result === undefined) {
        return { status: 'not_applicable', why: 'the API key no longer exists' };
      }
      // Announced even when already revoked: a node that missed the first mark gets it now.
      await deps.announce((cluster) => announceRevocation(cluster, result.key, deps.now()));
      return {
        status: result.changed ? 'done' : 'unchanged',
        ref: result.key.id,
        summary: `revoked API key ${result.key.id} (${subject.value}) of consumer ${result.key.consumerId}`,
      };
    }
  }
}
