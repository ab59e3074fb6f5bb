// Child processes of the benchmark: each one runs in its own process group, so that stopping it
// also stops whatever it forked (cluster workers, nginx workers), and none outlives the run.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

const OUTPUT_TAIL_BYTES = 16 * 1024;

/** Every child started and not yet reaped, in start order. */
const running = new Set();
/**
 * Every child ever started: its leader may be gone while what it forked lives on in its group
 * (an nginx worker whose master was killed), so groups are signalled even after the leader exits.
 */
const started = [];
/** Children that exited while we still needed them; checked after every measurement. */
const lost = [];

/**
 * Starts `command args` as the leader of a new process group. Its stdout and stderr are always
 * drained (a full pipe would stall it) and the last few KB kept to explain a failure.
 */
export function startChild(name, command, args, options = {}) {
  const proc = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const child = { name, proc, output: '', exited: false, stopping: false, exitInfo: '' };
  const keep = (chunk) => {
    child.output = (child.output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  child.done = new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      child.exited = true;
      child.exitInfo = signal ? `signal ${signal}` : `exit code ${code}`;
      running.delete(child);
      if (!child.stopping) lost.push(child);
      resolve();
    });
  });
  proc.once('error', (err) => {
    // spawn failures (ENOENT) arrive here and are followed by no 'exit' event.
    child.exited = true;
    child.exitInfo = err.message;
    running.delete(child);
    if (!child.stopping) lost.push(child);
  });
  running.add(child);
  started.push(child);
  return child;
}

/** Throws if a child we rely on has died: its last output says why. */
export function assertNoneLost() {
  const dead = lost[0];
  if (dead)
    throw new Error(`${dead.name} exited unexpectedly (${dead.exitInfo})${describeOutput(dead)}`);
}

export function describeOutput(child) {
  const tail = child.output.trim();
  return tail ? `\n--- last output of ${child.name} ---\n${tail}\n---` : '';
}

/** SIGTERM to the group, SIGKILL to the group after the grace period. */
export async function stopChild(child, graceMs = 3000) {
  child.stopping = true;
  if (child.proc.pid === undefined) return;
  if (child.exited) {
    signalGroup(child, 'SIGKILL');
    return;
  }
  signalGroup(child, 'SIGTERM');
  const exited = await Promise.race([
    child.done.then(() => true),
    sleep(graceMs).then(() => false),
  ]);
  if (!exited) {
    signalGroup(child, 'SIGKILL');
    await child.done;
  }
  // The leader is gone, but a forked process that ignored SIGTERM may linger in the group.
  signalGroup(child, 'SIGKILL');
}

/** Stops every child, most recently started first (proxies before their upstream). */
export async function stopAll() {
  for (const child of [...started].reverse()) await stopChild(child);
}

/** Last resort, from a synchronous 'exit' handler: kill every group that may still be around. */
export function killAllNow() {
  for (const child of started) {
    child.stopping = true;
    if (child.proc.pid !== undefined) signalGroup(child, 'SIGKILL');
  }
}

function signalGroup(child, signal) {
  try {
    process.kill(-child.proc.pid, signal);
  } catch (err) {
    if (err.code !== 'ESRCH') throw err;
  }
}

/** One GET without keep-alive, so the benchmark process holds no idle connection to a setup. */
export function httpGet(url, { headers = {}, timeoutMs = 2000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(
      url,
      { agent: false, headers: { ...headers, connection: 'close' } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

/** One request with a body (the contract setups' check): status and body. */
export function httpRequest(url, { method, headers = {}, body, timeoutMs = 2000 }) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, agent: false, headers: { ...headers, connection: 'close' } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Polls `url` until it answers 200. Fails at once if `child` exits meanwhile, and after
 * `timeoutMs` otherwise, either way with the child's last output.
 */
export async function waitForOk(child, url, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (child.exited) {
      throw new Error(
        `${child.name} exited before it was ready (${child.exitInfo})${describeOutput(child)}`,
      );
    }
    try {
      const res = await httpGet(url, { timeoutMs: 1000 });
      if (res.status === 200) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = err.message;
    }
    await sleep(100);
  }
  throw new Error(
    `${child.name} was not ready after ${timeoutMs} ms: GET ${url}: ${last}${describeOutput(child)}`,
  );
}
