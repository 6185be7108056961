// Whether sending masking batches to the worker pool pays now. A batch's round trip through the pool costs CPU
// (copies, two thread wake-ups: ~250 us a batch on a 2-core VM) that inline masking does not. That is a good
// trade when the pool's threads run on cores nobody else wants: the main thread sheds the scanning and keeps
// up with the stream. It is a bad one when the machine's cores are taken by the database and its clients, as
// on a small host that runs them all: the workers' CPU is then taken from the database, and the hops come on
// top (npm run bench, 2 cores, every detector: 0.48-0.70 of direct on 2 workers, 0.53-0.84 inline).
//
// So the pool is used while the rest of the machine (every process but sqlwarden) leaves sqlwarden at least
// `spareCores` cores: one for the main thread, half of one for workers. Measured from the kernel's per-core
// times and this process's own CPU, sampled every `intervalMs` and smoothed; a result checks the advice
// between its chunks, so a long result follows the machine as its load changes.
//
// The advice leans inline, because inline is never far off while a wrong offload costs the database: a busier
// machine is believed at once and a quieter one gradually, and a result goes to the pool only on a sample
// taken wholly after it began (its column description). Before that rule, a read that followed an idle second went to the pool on
// the idle second's advice until two samples had seen the database busy: most of a 1,000,000-row read here.
import os from 'node:os';

/** What the row stage reads (see stage.ts): `pays` changes only with `generation`. */
export interface OffloadAdvice {
  /** Changes with every sample (so whenever `pays` does): a result looks at the advice again when it changed. */
  readonly generation: number;
  readonly pays: boolean;
  /**
   * Whether the pool pays, by a sample whose whole interval came after `generation` was `since`: a result
   * opened then asks this, so that what the machine did before it streamed does not send it to the pool.
   */
  paysSince(since: number): boolean;
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
 * The rule, pure: the pool pays while the other processes keep no more than `cores - spareCores` cores busy
 * (`hysteresisCores` fewer when it did not pay before, so a load near the line does not switch it back and forth).
 */
export function offloadPays(othersCores: number, cores: number, paidBefore = true): boolean {
  return othersCores <= cores - spareCores - (paidBefore ? 0 : hysteresisCores);
}

/** Cores the other processes kept busy on average between two samples `ms` apart. */
export function othersCores(from: CpuTimes, to: CpuTimes, ms: number): number {
  return ms > 0 ? (to.machineBusyMs - from.machineBusyMs - (to.processMs - from.processMs)) / ms : 0;
}

/**
 * A busier sample is taken as it is; a quieter one moves the estimate half way to it. So a database that gets
 * busy switches the pool off at the next sample, and one burst keeps it off for a few samples (on 2 cores,
 * 500-750 ms; on a larger host a burst seldom reaches the line at all).
 */
export function smoothed(previous: number, measured: number): number {
  return measured >= previous ? measured : (previous + measured) / 2;
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
  /** The other processes' cores, smoothed (see `smoothed`). */
  others = 0;
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
    this.others = smoothed(this.others, othersCores(this.last, now, at - this.lastAt));
    this.last = now;
    this.lastAt = at;
    const pays = offloadPays(this.others, this.cores, this.pays);
    this.generation++;
    if (pays !== this.pays) {
      this.pays = pays;
      this.onChange(pays, this.others);
    }
  }

  /** The sample that made `generation` `since` + 1 may have begun before `since`; the next one did not. */
  paysSince(since: number): boolean {
    return this.pays && this.generation >= since + 2;
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/** `masking.offload: always`: the pool takes every batch it can, whatever the machine does. */
export const alwaysOffload: OffloadAdvice = { generation: 0, pays: true, paysSince: () => true };
