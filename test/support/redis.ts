import { Redis } from 'ioredis';

/** The Redis server tests use; in CI a missing REDIS_URL fails the run, never skips it. */
export const REDIS_URL =
  process.env.REDIS_URL?.trim() || (process.env.CI ? '' : 'redis://127.0.0.1:6379');
if (REDIS_URL === '') throw new Error('REDIS_URL is not set: these tests need a real Redis in CI');

/** Deletes every key under `prefix`: what one test file left in the shared server. */
export async function deleteRedisKeys(prefix: string): Promise<void> {
  const admin = new Redis(REDIS_URL);
  try {
    const found = await admin.keys(`${prefix}*`);
    if (found.length > 0) await admin.del(...found);
  } finally {
    await admin.quit();
  }
}
