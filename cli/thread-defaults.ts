// What every --threads flag defaults to: all the cores this process may run on, as llama.cpp does
// (one thread, the old default, left most of a machine idle). Help texts say the number.
import os from 'node:os';

export const ALL_CORES = os.availableParallelism();

/** A --threads description ending with its default, e.g. "(default: all 16 cores)". */
export function threadsHelp(what: string): string {
  return `${what} (default: all ${ALL_CORES} cores)`;
}
