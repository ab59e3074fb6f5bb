import { Pool } from 'undici';

/**
 * Fires `total` GET requests at once, spread round-robin over the gateways at `ports`, each
 * through its own pool of `connections`. Resolves with how many got each status.
 */
export async function burst(
  ports: readonly number[],
  path: string,
  total: number,
  connections = 64,
): Promise<Map<number, number>> {
  const pools = ports.map((p) => new Pool(`http://127.0.0.1:${p}`, { connections, pipelining: 1 }));
  try {
    const statuses = await Promise.all(
      Array.from({ length: total }, async (_, i) => {
        const pool = pools[i % pools.length] as Pool;
        const res = await pool.request({ method: 'GET', path });
        await res.body.dump();
        return res.statusCode;
      }),
    );
    const counts = new Map<number, number>();
    for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
    return counts;
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
}
