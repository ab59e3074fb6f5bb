/**
 * What callers may pass to cluster state. A wrong argument is a bug in the caller, so it throws
 * a TypeError or RangeError (never a ClusterError), and the message never repeats the value.
 */

const NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
const MAX_KEY_CHARS = 512;
const MAX_MEMBER_CHARS = 512;
const MAX_VALUE_BYTES = 65_536;

export function checkName(kind: 'set' | 'channel', name: unknown): asserts name is string {
  // Braces are excluded on purpose: the Redis layout wraps set names in a {hash tag}.
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new TypeError(`cluster state: a ${kind} name is 1 to 64 of A-Z a-z 0-9 _ . : -`);
  }
}

export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_CHARS) {
    throw new TypeError(`cluster state: a key is a string of 1 to ${MAX_KEY_CHARS} characters`);
  }
}

export function checkMember(member: unknown): asserts member is string {
  if (typeof member !== 'string' || member.length === 0 || member.length > MAX_MEMBER_CHARS) {
    throw new TypeError(
      `cluster state: a set member is a string of 1 to ${MAX_MEMBER_CHARS} characters (a fingerprint, never a secret)`,
    );
  }
}

export function checkPayload(
  what: 'value' | 'message',
  payload: unknown,
): asserts payload is string {
  if (typeof payload !== 'string' || Buffer.byteLength(payload) > MAX_VALUE_BYTES) {
    throw new TypeError(`cluster state: a ${what} is a string of at most ${MAX_VALUE_BYTES} bytes`);
  }
}

export function checkTtl(ttlMs: unknown): asserts ttlMs is number {
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs < 1) {
    throw new RangeError('cluster state: a TTL is a whole number of milliseconds, at least 1');
  }
}

export function checkIncrement(by: unknown): asserts by is number {
  if (typeof by !== 'number' || !Number.isSafeInteger(by)) {
    throw new RangeError('cluster state: an increment is a whole number');
  }
}

/** The members and other keys of an addDistinct: at most 1000 of each, every one checked. */
export function checkDistinct(members: unknown, alsoCount: unknown): void {
  if (!Array.isArray(members) || members.length > 1000) {
    throw new TypeError('cluster state: addDistinct takes a list of at most 1000 members');
  }
  for (const m of members) checkMember(m);
  if (!Array.isArray(alsoCount) || alsoCount.length > 1000) {
    throw new TypeError('cluster state: addDistinct counts along at most 1000 other keys');
  }
  for (const k of alsoCount) checkKey(k);
}

/** `has` and `onChange` read a mirror, which must be declared (mirrorSet) before. */
export function notMirrored(name: string): Error {
  return new Error(
    `cluster state: set ${name} is not mirrored on this node; call mirrorSet('${name}') when the stage is built`,
  );
}
