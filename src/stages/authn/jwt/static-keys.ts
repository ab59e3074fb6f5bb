import { readFileSync, statSync } from 'node:fs';
import { KeySet, keysFromJwks, keysFromPem, type LoadedKeys } from './key-set.js';
import type { JwtKeySource } from './key-source.js';

/** A keys file larger than this is not a set of public keys. */
const MAX_FILE_BYTES = 1024 * 1024;

/**
 * The static keys of `keysFile`: a JWK Set (or one JWK) in JSON, or PEM public keys and
 * certificates. Read synchronously when the config is built, so a reload (SIGHUP) reads the
 * file again. Throws an Error that names the file when it cannot be used, which refuses the
 * config: an issuer without keys would refuse every token.
 */
export function loadStaticKeys(file: string): { set: KeySet; skipped: string[] } {
  const text = readKeysFile(file);
  let loaded: LoadedKeys;
  try {
    loaded = text.trimStart().startsWith('{') ? keysFromJwks(JSON.parse(text)) : keysFromPem(text);
  } catch (err) {
    const why =
      err instanceof SyntaxError
        ? 'is not valid JSON'
        : err instanceof Error
          ? err.message
          : 'cannot be used';
    throw new Error(`keysFile ${file}: ${why}`);
  }
  if (loaded.keys.length === 0) {
    const skipped = loaded.skipped.length > 0 ? ` (${loaded.skipped.join('; ')})` : '';
    throw new Error(`keysFile ${file}: holds no usable public key${skipped}`);
  }
  return { set: new KeySet(loaded.keys, 1), skipped: loaded.skipped };
}

function readKeysFile(file: string): string {
  let size: number;
  let text: string;
  try {
    size = statSync(file).size;
    text = size > MAX_FILE_BYTES ? '' : readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new Error(`keysFile ${file}: cannot be read (${code})`);
  }
  if (size > MAX_FILE_BYTES) {
    throw new Error(`keysFile ${file}: larger than ${MAX_FILE_BYTES} bytes`);
  }
  return text;
}

/** Keys that never change while this config lives. */
export class StaticKeySource implements JwtKeySource {
  readonly kind = 'keysFile';
  readonly #set: KeySet;
  readonly #resolved: Promise<KeySet>;

  constructor(set: KeySet) {
    this.#set = set;
    this.#resolved = Promise.resolve(set);
  }

  current(): KeySet {
    return this.#set;
  }

  stale(): boolean {
    return false;
  }

  refresh(): Promise<KeySet> {
    return this.#resolved;
  }
}
