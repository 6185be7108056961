// The masking pool's worker (piscina): masks one batch of row messages (stage.ts `runBatch`) and hands the
// output back by transfer, not copy. The HMAC key of the `hash` strategy comes in the pool's workerData.
import { threadId } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol, workerData } from 'piscina';
import { runBatch, type BatchJob, type BatchResult } from './batch.js';

const key = (workerData as { hashKey?: string | Uint8Array } | undefined)?.hashKey;
const hashKey = key === undefined || typeof key === 'string' ? key : Buffer.from(key);

/**
 * piscina calls this per task; the output is moved to the main thread, and the input with it, to take a
 * later batch (see BatchBuffers in stage.ts); the few counters are copied.
 */
export default function maskBatch(job: BatchJob): BatchResult {
  const result = runBatch(job, { hashKey });
  result.thread = threadId;
  if (job.rows.byteLength > 0) result.input = job.rows;
  const movable = {
    get [transferableSymbol]() {
      return result.input ? [result.out, result.input] : [result.out];
    },
    get [valueSymbol]() {
      return result;
    },
  };
  return move(movable as never) as unknown as BatchResult;
}
