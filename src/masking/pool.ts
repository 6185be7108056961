// The worker pool the row stage sends batches to (DESIGN.md "Masking"): piscina, `masking.workers` threads,
// started up front so the first batch does not wait for a thread. A batch's rows and the buffer for its
// output are transferred to the worker (the stage's ArrayBuffers are detached after `run`) and back.
//
// Which file the workers load: built (dist/masking/pool.js) it is the compiled worker.js next to this file;
// run from the TypeScript sources (vitest), it is worker.source.mjs, a plain-JS entry that compiles the
// sources on load (worker threads do not go through vitest's transform).
import { Piscina } from 'piscina';
import { alwaysOffload, CpuHeadroom, type OffloadAdvice } from './headroom.js';
import type { Logger } from '../log.js';
import type { BatchExecutor, BatchJob, BatchResult } from './batch.js';
import type maskBatch from './worker.js';

export interface PoolOptions {
  /** Worker threads (config `masking.workers`); at least 1. */
  workers: number;
  /** HMAC key of the `hash` strategy (config `masking.key`). */
  hashKey?: string | Buffer;
  /** Config `masking.offload`: `auto` (default) sends batches only while the machine has cores to spare. */
  offload?: 'auto' | 'always';
  /** Where `auto` says when it stops or resumes sending batches. */
  log?: Logger;
}

export class MaskingPool implements BatchExecutor {
  private readonly piscina: Piscina<BatchJob, ReturnType<typeof maskBatch>>;
  readonly offload: OffloadAdvice;

  constructor(opts: PoolOptions) {
    if (!Number.isInteger(opts.workers) || opts.workers < 1) throw new RangeError(`masking.workers: expected at least 1 for a pool, got ${opts.workers}`);
    const fromSources = import.meta.url.endsWith('.ts');
    this.piscina = new Piscina({
      filename: new URL(fromSources ? './worker.source.mjs' : './worker.js', import.meta.url).href,
      minThreads: opts.workers,
      maxThreads: opts.workers,
      idleTimeout: Infinity,
      workerData: { hashKey: opts.hashKey },
    });
    const log = opts.log;
    // The first change is logged at info, later ones at most once a minute (debug in between).
    let loggedAt = -Infinity;
    this.offload =
      opts.offload === 'always'
        ? alwaysOffload
        : new CpuHeadroom({
            onChange: (pays, others) => {
              const now = performance.now();
              const level = now - loggedAt >= 60_000 ? 'info' : 'debug';
              if (level === 'info') loggedAt = now;
              log?.[level](
                { otherProcessesCores: Math.round(others * 100) / 100 },
                pays ? 'masking: detector and hash batches go to the worker pool again' : 'masking: the other processes leave no core to spare: batches are masked on the main thread',
              );
            },
          });
  }

  get threads(): number {
    return this.piscina.threads.length;
  }

  run(job: BatchJob): Promise<BatchResult> {
    return this.piscina.run(job, { transferList: job.out ? [job.rows, job.out] : [job.rows] });
  }

  /** Resolves once every worker has answered a task: a caller that measures wants no start-up in its numbers. */
  async ready(): Promise<void> {
    const seen = new Set<number | undefined>();
    const empty = (): BatchJob => ({ key: 0, spec: { columns: [], detectors: [] }, format: { kind: 'pg-datarow', formats: { types: new Uint32Array(0), binary: new Uint8Array(0) } }, rows: new ArrayBuffer(0), length: 0 });
    while (seen.size < this.piscina.maxThreads) {
      const answers = await Promise.all(Array.from({ length: this.piscina.maxThreads }, () => this.run(empty())));
      for (const a of answers) seen.add(a.thread);
      if (seen.size < this.piscina.maxThreads) await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): Promise<void> {
    if (this.offload instanceof CpuHeadroom) this.offload.close();
    return this.piscina.destroy();
  }
}
