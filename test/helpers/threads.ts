/** This process's threads as Linux sees them. */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** Linux's SCHED_IDLE scheduling policy. */
export const SCHED_IDLE = 5;

export interface ThreadPriority {
  nice: number;
  policy: number;
}

/** Nice value and scheduling policy of one of this process's threads (/proc); undefined once it has ended. */
export function threadPriority(tid: number | string): ThreadPriority | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name, which is in parentheses and may hold spaces: nice is field 19,
  // policy field 41 of the whole line.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { nice: Number(fields[16]), policy: Number(fields[38]) };
}

/** Nice value and scheduling policy of each of this process's threads, by thread id (/proc). */
export function threadPriorities(): Map<string, ThreadPriority> {
  const priorities = new Map<string, ThreadPriority>();
  for (const tid of readdirSync('/proc/self/task')) {
    const priority = threadPriority(tid);
    if (priority) priorities.set(tid, priority);
  }
  return priorities;
}

/** The kernel's id of the calling thread: /proc/thread-self links to <pid>/task/<tid>. */
export function currentThreadId(): number {
  return Number(readlinkSync('/proc/thread-self').split('/').pop());
}
