import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { AuditError } from './audit-error.js';

/**
 * The Ed25519 key that signs audit checkpoints. It is kept apart from the database (a file the
 * database's administrators cannot write), so that whoever can rewrite the log cannot re-sign it.
 * Messages name the file, never its contents.
 */

export interface CheckpointVerifyKey {
  /** `ed25519:` and the first 16 hex digits of the SHA-256 of the public key (SPKI DER). */
  readonly keyId: string;
  readonly publicKey: KeyObject;
}

export interface CheckpointSigningKey extends CheckpointVerifyKey {
  readonly privateKey: KeyObject;
}

export function keyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return `ed25519:${createHash('sha256').update(der).digest('hex').slice(0, 16)}`;
}

function read(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : 'cannot be read';
    throw new AuditError(
      'PCL_AUDIT_KEY_INVALID',
      `audit checkpoint key ${file}: ${why}; check state.audit.checkpointKeyFile`,
    );
  }
}

function notEd25519(file: string, what: string): AuditError {
  return new AuditError(
    'PCL_AUDIT_KEY_INVALID',
    `audit checkpoint key ${file}: not ${what}; create one with \`openssl genpkey -algorithm ed25519 -out ${file}\``,
  );
}

/** Reads the private key (PEM) that signs checkpoints. */
export function loadCheckpointSigningKey(file: string): CheckpointSigningKey {
  const pem = read(file);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw notEd25519(file, 'a PEM private key');
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw notEd25519(file, 'an Ed25519 key');
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}

const PUBLIC_PEM = /-----BEGIN PUBLIC KEY-----[A-Za-z0-9+/=\s]*-----END PUBLIC KEY-----/g;

/** Every public key in a PEM file (a `.pub` may list retired keys beside the current one). */
function publicKeysIn(file: string): CheckpointVerifyKey[] {
  const text = read(file).toString('utf8');
  const blocks = text.match(PUBLIC_PEM) ?? [];
  if (blocks.length === 0) throw notEd25519(file, 'a PEM file of public keys');
  return blocks.map((block) => {
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey({ key: block, format: 'pem' });
    } catch {
      throw notEd25519(file, 'a PEM file of public keys');
    }
    if (publicKey.asymmetricKeyType !== 'ed25519') throw notEd25519(file, 'a file of Ed25519 keys');
    return { publicKey, keyId: keyIdOf(publicKey) };
  });
}

/**
 * The keys a verifier accepts for `state.audit.checkpointKeyFile`: the public half of that
 * private key when the file is there, and every public key in `<file>.pub` when that is there
 * (an auditor's machine holds only the `.pub`; after a key rotation it lists the old key too).
 * One of the two must exist.
 */
export function loadCheckpointVerifyKeys(file: string): CheckpointVerifyKey[] {
  const pub = `${file}.pub`;
  const hasPrivate = existsSync(file);
  const hasPublic = existsSync(pub);
  if (!hasPrivate && !hasPublic) {
    throw new AuditError(
      'PCL_AUDIT_KEY_INVALID',
      `audit checkpoint key: neither ${file} nor ${pub} exists; check state.audit.checkpointKeyFile`,
    );
  }
  const keys: CheckpointVerifyKey[] = [];
  if (hasPrivate) {
    const { publicKey, keyId } = loadCheckpointSigningKey(file);
    keys.push({ publicKey, keyId });
  }
  if (hasPublic) {
    for (const key of publicKeysIn(pub)) {
      if (!keys.some((k) => k.keyId === key.keyId)) keys.push(key);
    }
  }
  return keys;
}
