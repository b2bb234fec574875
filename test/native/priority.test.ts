import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { native } from '../../src/native.js';

/** Nice values of this process's threads (Linux: field 19 of /proc/self/task/<tid>/stat). */
function threadNices(): number[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[16]);
  });
}

describe.runIf(process.platform === 'linux')('lowerPriority', () => {
  it('lowers the calling thread and every pool thread, and checks its argument', () => {
    const before = threadNices().filter((n) => n === 7).length;
    expect(native.lowerPriority(7)).toBe(true);
    // The calling thread and the pool's threads − 1 workers.
    expect(threadNices().filter((n) => n === 7).length).toBe(before + native.getThreads());
    expect(() => native.lowerPriority(20)).toThrow(/from 0 to 19/);
    expect(() => native.lowerPriority(-1)).toThrow(RangeError);
  });
});
