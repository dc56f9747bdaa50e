/**
 * CPU time of processes, from /proc: what a benchmark reports beside its
 * throughput, so a ratio can be told apart into "uses more CPU per
 * operation" and "waits more". Without /proc everything counts as 0.
 */
import { readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICK_MS = 10;

/** A process and its descendants (node:cluster workers), from /proc. */
export function processTree(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) {
    try {
      for (const task of readdirSync(`/proc/${all[i]}/task`)) {
        const children = readFileSync(`/proc/${all[i]}/task/${task}/children`, 'utf8').trim();
        if (children !== '') all.push(...children.split(/\s+/).map(Number));
      }
    } catch {
      // Gone, or no /proc: counted as nothing.
    }
  }
  return all;
}

/** CPU ms (user + system, all threads) used so far by this process alone (autocannon runs in it). */
export function ownCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** CPU ms (user + system, all threads) used so far by a process tree; 0 without /proc. */
export function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      // Fields after the parenthesized command name: utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Exited meanwhile.
    }
  }
  return ticks * CLOCK_TICK_MS;
}
