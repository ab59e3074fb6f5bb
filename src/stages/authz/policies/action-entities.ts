import type { EntityJson } from '@cedar-policy/cedar-wasm/nodejs';
import { ACTION_TYPE } from './entity-shape.js';

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

interface ActionUid {
  readonly type: string;
  readonly id: string;
}

const keyOf = (uid: ActionUid) => `${uid.type}\0${uid.id}`;

/** Each action of every namespace of the schema (as schemaToJsonWithResolvedTypes gives it), with its groups. */
function declaredActions(
  schemaJson: unknown,
): Map<string, { uid: ActionUid; parents: ActionUid[] }> {
  const actions = new Map<string, { uid: ActionUid; parents: ActionUid[] }>();
  if (!isRecord(schemaJson)) return actions;
  for (const [namespace, ns] of Object.entries(schemaJson)) {
    if (!isRecord(ns) || !isRecord(ns.actions)) continue;
    const type = namespace === '' ? 'Action' : `${namespace}::Action`;
    for (const [id, action] of Object.entries(ns.actions)) {
      const memberOf = isRecord(action) && Array.isArray(action.memberOf) ? action.memberOf : [];
      const parents: ActionUid[] = [];
      for (const m of memberOf) {
        if (!isRecord(m) || typeof m.id !== 'string') continue;
        const t =
          typeof m.type !== 'string'
            ? type
            : m.type.includes('::')
              ? m.type
              : `${namespace === '' ? '' : `${namespace}::`}${m.type}`;
        parents.push({ type: t, id: m.id });
      }
      const uid = { type, id };
      actions.set(keyOf(uid), { uid, parents });
    }
  }
  return actions;
}

/**
 * The action entities a request for each `Portcullis::Action` needs when Cedar is asked without
 * the schema: the action and every group it is in (transitively), each with its declared
 * groups, so that `action in Portcullis::Action::"reads"` holds as the schema says. The schema
 * itself is what the policies were validated against at load; per request, the gateway gives
 * Cedar these precomputed entities instead of having it parse entities against the schema.
 */
export function actionEntities(schemaJson: unknown): ReadonlyMap<string, readonly EntityJson[]> {
  const declared = declaredActions(schemaJson);
  const out = new Map<string, readonly EntityJson[]>();
  for (const { uid } of declared.values()) {
    if (uid.type !== ACTION_TYPE) continue;
    const entities: EntityJson[] = [];
    const seen = new Set<string>();
    const pending: ActionUid[] = [uid];
    while (pending.length > 0) {
      const next = pending.pop() as ActionUid;
      const key = keyOf(next);
      if (seen.has(key)) continue;
      seen.add(key);
      const parents = declared.get(key)?.parents ?? [];
      entities.push({
        uid: { __entity: { type: next.type, id: next.id } },
        attrs: {},
        parents: parents.map((p) => ({ __entity: { type: p.type, id: p.id } })),
      });
      pending.push(...parents);
    }
    // An action in no group needs no entity: without one, Cedar knows it as itself alone.
    out.set(
      uid.id,
      Object.freeze(entities.length === 1 && entities[0]?.parents.length === 0 ? [] : entities),
    );
  }
  return out;
}
