// Whether sending masking batches to the worker pool pays now. A batch's round trip through the pool costs CPU
// (copies, two thread wake-ups: ~250 us a batch on a 2-core VM) that inline masking does not. That is a good
// trade when the pool's threads run on cores nobody else wants: the main thread sheds the scanning and keeps
// up with the stream. It is a bad one when the machine's cores are taken by the database and its clients, as
// on a small host that runs them all: the workers' CPU is then taken from the database, and the hops come on
// top (npm run bench, 2 cores, every detector: 0.52-0.56 of direct on 2 workers, 0.61-0.69 inline).
//
// So the pool is used while the rest of the machine (every process but sqlwarden) leaves sqlwarden at least
// `spareCores` cores: one for the main thread, half of one for workers. Measured from the kernel's per-core
// times and this process's own CPU, sampled every `intervalMs`; a result checks the advice between its
// chunks, so a long result follows the machine as its load changes.
import os from 'node:os';

/** What the row stage reads (see stage.ts): `pays` changes only with `generation`. */
export interface OffloadAdvice {
  readonly generation: number;
  readonly pays: boolean;
}

/** CPU time up to a moment: all cores' busy time, and this process's (every thread), in ms. */
export interface CpuTimes {
  machineBusyMs: number;
  processMs: number;
}

/** Cores the rest of the machine must leave sqlwarden for the pool to pay. */
export const spareCores = 1.5;

/** Once the pool was found not to pay, the others must leave this much more before it is used again. */
export const hysteresisCores = 0.25;

/**
 * The rule, pure: between two samples `ms` apart on a machine of `cores` cores, the pool pays when the other
 * processes used no more than `cores - spareCores` cores (`hysteresisCores` fewer when it did not pay before,
 * so a load near the line does not switch it, and log it, at every sample).
 */
export function offloadPays(from: CpuTimes, to: CpuTimes, ms: number, cores: number, paidBefore = true): boolean {
  return ms <= 0 || othersCores(from, to, ms) <= cores - spareCores - (paidBefore ? 0 : hysteresisCores);
}

/** Cores the other processes kept busy on average between two samples `ms` apart. */
export function othersCores(from: CpuTimes, to: CpuTimes, ms: number): number {
  return (to.machineBusyMs - from.machineBusyMs - (to.processMs - from.processMs)) / ms;
}

export function cpuTimesNow(): CpuTimes {
  let busy = 0;
  for (const c of os.cpus()) busy += c.times.user + c.times.nice + c.times.sys + c.times.irq;
  const own = process.cpuUsage();
  return { machineBusyMs: busy, processMs: (own.user + own.system) / 1000 };
}

/** The advice, from a sample every `intervalMs` (os.cpus() costs ~0.1 ms). */
export class CpuHeadroom implements OffloadAdvice {
  generation = 0;
  pays = true;
  private last: CpuTimes;
  private lastAt: number;
  private readonly timer: NodeJS.Timeout;
  private readonly cores: number;
  private readonly sample: () => CpuTimes;
  private readonly onChange: (pays: boolean, others: number) => void;

  constructor(
    opts: {
      intervalMs?: number;
      cores?: number;
      sample?: () => CpuTimes;
      /** Told when the advice changes, with the other processes' cores that changed it (for the log). */
      onChange?: (pays: boolean, others: number) => void;
    } = {},
  ) {
    this.cores = opts.cores ?? os.availableParallelism();
    this.sample = opts.sample ?? cpuTimesNow;
    this.onChange = opts.onChange ?? (() => undefined);
    this.last = this.sample();
    this.lastAt = performance.now();
    this.timer = setInterval(() => this.update(), opts.intervalMs ?? 250);
    this.timer.unref();
  }

  /** Takes a sample and updates the advice (the timer calls it; tests may too). */
  update(): void {
    const now = this.sample();
    const at = performance.now();
    const pays = offloadPays(this.last, now, at - this.lastAt, this.cores, this.pays);
    if (pays !== this.pays) {
      this.pays = pays;
      this.generation++;
      this.onChange(pays, othersCores(this.last, now, at - this.lastAt));
    }
    this.last = now;
    this.lastAt = at;
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/** `masking.offload: always`: the pool takes every batch it can, whatever the machine does. */
export const alwaysOffload: OffloadAdvice = { generation: 0, pays: true };
