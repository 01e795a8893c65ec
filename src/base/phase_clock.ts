// Wall time per named phase of a long job (loading a model: read, decode,
// repack, upload), summed over many small steps. The load benchmark and the
// CLI's --json progress report the split; nothing in the engine depends on it.
export class PhaseClock {
  readonly ms: Record<string, number> = {};

  add(phase: string, ms: number): void {
    this.ms[phase] = (this.ms[phase] ?? 0) + ms;
  }

  time<T>(phase: string, fn: () => T): T {
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      this.add(phase, performance.now() - t0);
    }
  }

  async timeAsync<T>(phase: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.add(phase, performance.now() - t0);
    }
  }
}

/** Time `fn` under `phase` when a clock is given, else just run it. */
export function timed<T>(clock: PhaseClock | undefined, phase: string, fn: () => T): T {
  return clock ? clock.time(phase, fn) : fn();
}

export async function timedAsync<T>(clock: PhaseClock | undefined, phase: string, fn: () => Promise<T>): Promise<T> {
  return clock ? clock.timeAsync(phase, fn) : fn();
}
