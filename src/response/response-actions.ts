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
  /** `tokenSeconds`: how long the fingerprint of a token revoked stays blocked. */
  | { readonly action: 'revoke'; readonly tokenSeconds: number };

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
 * `portcullis keys revoke` and `consumers disable`, and blocks the fingerprint of a token
 * (`tokenSeconds`). Throws when the store cannot be written.
 */
export async function carryOut(
  what: SubjectAction,
  subject: ActionSubject,
  meta: { readonly reason: string; readonly actor: string; readonly incidentId?: string },
  deps: ActionDeps,
): Promise<ActionOutcome> {
  if (what.action === 'revoke') return revoke(subject, what.tokenSeconds, meta, deps);
  const made = await addBlock(subject, what.seconds, meta, deps, {
    ...(what.action === 'throttle' ? { throttle: what.rate } : {}),
  });
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

type ActionMeta = Parameters<typeof carryOut>[2];

/** A block record every gateway follows, announced so that each reads it at once. */
async function addBlock(
  subject: ActionSubject,
  seconds: number,
  meta: ActionMeta,
  deps: ActionDeps,
  extra: { readonly throttle?: ThrottleRate },
): Promise<{ readonly id: string }> {
  const made = await new BlockStore(deps.db, deps.now).add({
    kind: subject.kind,
    subject: subject.value,
    reason: meta.reason,
    actor: meta.actor,
    ttlMs: seconds * 1000,
    ...extra,
    ...(meta.incidentId === undefined || meta.incidentId === ''
      ? {}
      : { incidentId: meta.incidentId }),
  });
  await deps.announce(announceBlocksChanged);
  return made;
}

async function revoke(
  subject: ActionSubject,
  tokenSeconds: number,
  meta: ActionMeta,
  deps: ActionDeps,
): Promise<ActionOutcome> {
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
      // Two keys sharing a fingerprint are left alone rather than revoking one the detection
      // may not be about.
      if (keys.length > 1) {
        return { status: 'not_applicable', why: 'more than one API key has this fingerprint' };
      }
      if (only === undefined) {
        // A token (JWT, introspection) or a certificate: its fingerprint is a hash of all of it,
        // which gives neither its issuer nor its jti, but names exactly that credential.
        // Blocked on every node for longer than a token lives, it is refused wherever it comes
        // (403, `blocks.blocked.credential`); `blocks list` shows it, `blocks remove` undoes it.
        const made = await addBlock(subject, tokenSeconds, meta, deps, {});
        return {
          status: 'done',
          ref: made.id,
          summary: `revoked token or certificate ${subject.value}: its fingerprint is blocked for ${tokenSeconds} s on every node (${made.id})`,
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
