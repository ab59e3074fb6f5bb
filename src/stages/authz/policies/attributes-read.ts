/**
 * The entity attributes a policy set can read, from the policies' JSON form (Cedar's `policyToJson`):
 * every attribute name of a `.` or `has` anywhere in a policy, whatever it is read from. The
 * gateway gives the entities only these of the attributes the schema declares: each one Cedar
 * receives costs it a few microseconds per request to parse, and one no policy reads decides
 * nothing.
 *
 * Reading too many is harmless. Reading too few cannot allow what the policies forbid: a policy
 * that reads an attribute the entity lacks is an evaluation error, and the engine denies on any
 * error (a missing attribute tested with `has` is one this walk found).
 */
export function attributesRead(policies: readonly unknown[]): ReadonlySet<string> {
  const names = new Set<string>();
  // Iterative: a deeply nested condition must not overflow the stack at load.
  const pending: unknown[] = [...policies];
  while (pending.length > 0) {
    const node = pending.pop();
    if (Array.isArray(node)) {
      for (const item of node) pending.push(item);
      continue;
    }
    if (typeof node !== 'object' || node === null) continue;
    for (const [key, value] of Object.entries(node)) {
      if ((key === '.' || key === 'has') && typeof value === 'object' && value !== null) {
        const attr: unknown = (value as { attr?: unknown }).attr;
        if (typeof attr === 'string') names.add(attr);
      }
      pending.push(value);
    }
  }
  return names;
}
