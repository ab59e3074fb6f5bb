/**
 * The node flags the gateway runs with.
 *
 * A young generation of a fixed 16 MiB per semi-space. V8 sizes the young generation (where a
 * request's short-lived objects are made) as it goes: it shrinks it after a quiet spell and grows
 * it again only as objects survive, which a gateway's objects, made and dropped within a request,
 * rarely do. A gateway that sat idle then served with a 1 MiB young generation and collected it
 * 16 times as often: measured here, 20 to 30 % more CPU per request for as long as the process
 * lived, in some processes and not others. Fixed, it costs at most 48 MiB of memory (three
 * semi-spaces), and every process serves at the same cost.
 *
 * No memory reducer. After a quiet spell, V8's memory reducer runs full collections to give
 * memory back. A gateway with a Redis-backed limit that had sat idle for 40 s came out of them
 * with `process.nextTick` ten times as dear (its tick object's property stores, 2 µs per proxied
 * request by CPU profile, and promise jobs dearer too), for as long as it lived; five processes
 * out of five, and none of four started without the reducer. A server keeps the heap it grew
 * for its next peak: an idle gateway holds some tens of MiB more.
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = Object.freeze([
  '--min-semi-space-size=16',
  '--max-semi-space-size=16',
  '--no-memory-reducer',
]);

/** The commands that run a gateway. */
const SERVING = new Set(['start', 'demo']);

/**
 * The flags of a new node to run this command line in (bin.ts), or undefined to run it in this
 * process: a command that serves, started without node flags of the caller's own. A caller
 * who gives node flags (an inspector, heap sizes, on the command line or in NODE_OPTIONS) is in
 * charge of node, and the command runs in it as it is (docs/operations.md says what to add).
 */
export function respawnFlags(
  args: readonly string[],
  execArgv: readonly string[],
  env: NodeJS.ProcessEnv,
): readonly string[] | undefined {
  if (!SERVING.has(args[0] ?? '')) return undefined;
  if (execArgv.length > 0 || (env.NODE_OPTIONS ?? '').trim() !== '') return undefined;
  return GATEWAY_NODE_FLAGS;
}
