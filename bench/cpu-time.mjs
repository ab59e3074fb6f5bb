// The CPU time the processes of a setup spend, read from /proc (Linux only; NaN elsewhere).
//
// On a machine whose cores the load generator, the upstream and the proxy share, req/s moves by
// tens of percent from run to run; the CPU time a setup spends per request moves far less, and
// it says what a feature costs whatever else the machine is doing.
import { readdirSync, readFileSync } from 'node:fs';

/** /proc/<pid>/stat counts in clock ticks: USER_HZ, 100 on every Linux architecture Node runs on. */
const TICKS_PER_SECOND = 100;

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces and parens). */
function statFields(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    return {
      command: stat.slice(stat.indexOf('(') + 1, close),
      // state, ppid, pgrp, ..., utime (14th field of the line), stime (15th)
      fields: stat.slice(close + 2).split(' '),
    };
  } catch {
    return undefined; // gone meanwhile
  }
}

function cpuSeconds(fields) {
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

function processIds() {
  try {
    return readdirSync('/proc').filter((name) => /^[0-9]+$/.test(name));
  } catch {
    return undefined;
  }
}

/**
 * utime + stime, in seconds, of the processes that `include(command, processGroup)` picks,
 * threads included (a worker thread's time is its process's). NaN without /proc.
 */
function cpuOf(include) {
  const pids = processIds();
  if (pids === undefined) return Number.NaN;
  let seconds = 0;
  let found = false;
  for (const pid of pids) {
    const stat = statFields(pid);
    if (stat === undefined || !include(stat.command, Number(stat.fields[2]))) continue;
    seconds += cpuSeconds(stat.fields);
    found = true;
  }
  return found ? seconds : Number.NaN;
}

/** Every process of a process group: a child of bench/children.mjs and whatever it forked. */
export function groupCpuSeconds(pgid) {
  return cpuOf((_command, group) => group === pgid);
}

/**
 * Every process named `command` on this machine: a local database server, with its background
 * writers. Only meaningful when nothing else uses that server meanwhile.
 */
export function commandCpuSeconds(command) {
  return cpuOf((name) => name === command);
}

/**
 * Whether the server at `url` runs on this machine (a loopback host, or none: a Unix socket):
 * then its CPU time can be read, and it competes with the setup's for the cores.
 */
export function isLocalServer(url) {
  try {
    return ['127.0.0.1', 'localhost', '[::1]', ''].includes(new URL(url).hostname);
  } catch {
    return false;
  }
}
