/**
 * Puts V8's built-in prototypes back in fast mode once every module is loaded.
 *
 * When an object is made the prototype of another (`class X extends String`, `Object.create(P)`),
 * V8 may switch it to dictionary mode. It switches it back only when an inline cache loads a
 * property through it from an object; a load from a primitive, such as `text.charCodeAt(i)`,
 * never does. ioredis 6 declares `class VerbatimString extends String`, so loading it leaves
 * String.prototype in dictionary mode for the life of the process. Then every string method call
 * in optimized code (`charCodeAt`, `slice`, `toLowerCase`, in our code, undici's and Node's)
 * goes through the generic load IC: five times slower on a JSON scan loop, and (measured with perf
 * in the gateway) about 2 µs of each proxied request of the demo's account route.
 */

/** One object per prototype, whose own chain leads through it. */
const RECEIVERS: readonly (() => object)[] = [
  () => Object('') as object,
  () => Object(0) as object,
  () => Object(false) as object,
  () => [],
  () => ({}),
  () => function named() {},
  () => /x/,
  () => new Map(),
  () => new Set(),
  () => new Uint8Array(0),
  () => Buffer.alloc(0),
];

/** A load that V8 gives an inline cache once it has run a few times (lazy feedback). */
const load = (o: object): unknown => o.constructor;
const CALLS = 64;

/**
 * Loads a property through an inline cache from an object of each built-in kind, which makes V8
 * migrate the prototypes on its chain back to fast mode. Call after every module is loaded (a
 * module loaded later may slow a prototype again).
 */
export function restoreFastPrototypes(): void {
  for (const make of RECEIVERS) {
    // Each kind is a new map for the cache: a miss, which is where V8 fixes the prototypes.
    const receiver = make();
    for (let i = 0; i < CALLS; i++) load(receiver);
  }
}
