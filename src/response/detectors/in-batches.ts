/** Subjects whose cluster-state round trips one flush has in flight at once. */
export const FLUSH_CONCURRENCY = 64;

/**
 * Runs `fn` for every item, at most `FLUSH_CONCURRENCY` at once: a flush of a thousand
 * subjects takes a few dozen round trips' time rather than a thousand, without flooding Redis.
 */
export async function inBatches<T>(
  items: Iterable<T>,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let batch: Promise<void>[] = [];
  for (const item of items) {
    batch.push(fn(item));
    if (batch.length >= FLUSH_CONCURRENCY) {
      await Promise.all(batch);
      batch = [];
    }
  }
  await Promise.all(batch);
}
