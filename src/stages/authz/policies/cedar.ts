import { createRequire } from 'node:module';
import type * as CedarWasm from '@cedar-policy/cedar-wasm/nodejs';

export type Cedar = typeof CedarWasm;

let loaded: Cedar | undefined;

/**
 * The Cedar engine, loaded on first use: its nodejs build compiles a 4 MB WebAssembly module
 * synchronously (~30 ms), which only configs with `authz.policies` should pay for. The package's
 * default entry is a bundler build that Node cannot load (`.wasm` imports); `/nodejs` is the
 * CommonJS build for Node, required here so that loading stays synchronous.
 */
export function cedar(): Cedar {
  loaded ??= createRequire(import.meta.url)('@cedar-policy/cedar-wasm/nodejs') as Cedar;
  return loaded;
}
