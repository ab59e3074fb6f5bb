/**
 * Where cluster state lives in Redis, every name under `state.cluster.keyPrefix` (docs/cluster-state.md):
 *
 *   <prefix>k:<key>          string   counters and values (INCRBY / SET with PX)
 *   <prefix>s:{<set>}        zset     a marked set: member -> expiry in epoch ms (+inf: never)
 *   <prefix>sv:{<set>}       string   the set's change version, incremented by every change
 *   <prefix>sc:{<set>}       channel  the set's changes: "<version>|<json [op, member, expiry]>"
 *   <prefix>ch:<channel>     channel  messages of publish/subscribe
 *
 * The {braces} keep a set, its version and its channel in one hash slot.
 */
export interface RedisKeyLayout {
  valueKey(key: string): string;
  setKey(name: string): string;
  setVersionKey(name: string): string;
  setChannel(name: string): string;
  userChannel(channel: string): string;
  /** The channel name of a `userChannel`, or undefined for any other channel. */
  userChannelName(redisChannel: string): string | undefined;
}

export function redisKeyLayout(prefix: string): RedisKeyLayout {
  const user = `${prefix}ch:`;
  return {
    valueKey: (key) => `${prefix}k:${key}`,
    setKey: (name) => `${prefix}s:{${name}}`,
    setVersionKey: (name) => `${prefix}sv:{${name}}`,
    setChannel: (name) => `${prefix}sc:{${name}}`,
    userChannel: (channel) => `${user}${channel}`,
    userChannelName: (redisChannel) =>
      redisChannel.startsWith(user) ? redisChannel.slice(user.length) : undefined,
  };
}
