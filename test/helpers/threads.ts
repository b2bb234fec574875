/** This process's threads as Linux sees them. */
import { readFileSync, readdirSync } from 'node:fs';

/** Linux's SCHED_IDLE scheduling policy. */
export const SCHED_IDLE = 5;

export interface ThreadPriority {
  nice: number;
  policy: number;
}

/** Nice value and scheduling policy of each of this process's threads, by thread id (/proc). */
export function threadPriorities(): Map<string, ThreadPriority> {
  const priorities = new Map<string, ThreadPriority>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      // Fields after the command name, which is in parentheses and may hold spaces: nice is field 19,
      // policy field 41 of the whole line.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      priorities.set(tid, { nice: Number(fields[16]), policy: Number(fields[38]) });
    } catch {
      // A thread that ended meanwhile.
    }
  }
  return priorities;
}
