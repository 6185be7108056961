// When the masking pool pays (masking.offload: auto): the rule on CPU samples, and the advice the stage reads.
import { describe, expect, it } from 'vitest';
import { CpuHeadroom, cpuTimesNow, hysteresisCores, offloadPays, spareCores, type CpuTimes } from '../../../src/masking/headroom.js';

/** Two samples `ms` apart: the machine's cores busy `machineCores` on average, this process `processCores`. */
function between(ms: number, machineCores: number, processCores: number): [CpuTimes, CpuTimes] {
  const from = { machineBusyMs: 1_000_000, processMs: 5_000 };
  return [from, { machineBusyMs: from.machineBusyMs + machineCores * ms, processMs: from.processMs + processCores * ms }];
}

describe('offloadPays', () => {
  it('says no on a 2-core host that also runs the database and its clients', () => {
    // The bench's host: the database backend ~0.9 of a core, the client ~0.3, sqlwarden the rest.
    expect(offloadPays(...between(250, 2, 0.8), 250, 2)).toBe(false);
    // Still no while the pool itself runs: its CPU is sqlwarden's, the others' ~1.2 cores are what count.
    expect(offloadPays(...between(250, 2, 1.0), 250, 2)).toBe(false);
  });

  it('says yes on a 2-core host of its own (database and clients elsewhere), busy or not', () => {
    expect(offloadPays(...between(250, 1.05, 1.0), 250, 2)).toBe(true);
    expect(offloadPays(...between(250, 1.9, 1.85), 250, 2)).toBe(true);
    expect(offloadPays(...between(250, 0, 0), 250, 2)).toBe(true);
  });

  it('says yes on a larger host until the others leave sqlwarden less than spareCores', () => {
    expect(offloadPays(...between(1000, 3.5, 1), 1000, 8)).toBe(true);
    expect(offloadPays(...between(1000, 1 + 8 - spareCores, 1), 1000, 8)).toBe(true);
    expect(offloadPays(...between(1000, 1 + 8 - spareCores + 0.1, 1), 1000, 8)).toBe(false);
  });

  it('asks the others for hysteresisCores more before it says yes again', () => {
    const near = between(1000, 1 + 8 - spareCores - hysteresisCores / 2, 1);
    expect(offloadPays(...near, 1000, 8, true)).toBe(true);
    expect(offloadPays(...near, 1000, 8, false)).toBe(false);
    expect(offloadPays(...between(1000, 1 + 8 - spareCores - hysteresisCores, 1), 1000, 8, false)).toBe(true);
  });

  it('says yes when no time passed (nothing measured yet)', () => {
    expect(offloadPays(...between(0, 2, 0), 0, 2)).toBe(true);
  });
});

describe('CpuHeadroom', () => {
  it('changes its generation exactly when its advice changes', () => {
    let t: CpuTimes = { machineBusyMs: 0, processMs: 0 };
    let othersPerCall = 0;
    const sample = () => {
      // Each sample: the others used `othersPerCall` ms of CPU since the last one (a few ms pass between calls).
      t = { machineBusyMs: t.machineBusyMs + othersPerCall, processMs: t.processMs };
      return t;
    };
    const changes: boolean[] = [];
    const h = new CpuHeadroom({ intervalMs: 60_000, cores: 2, sample, onChange: (pays) => changes.push(pays) });
    try {
      expect(h.pays).toBe(true);
      h.update();
      expect(h).toMatchObject({ pays: true, generation: 0 });
      othersPerCall = 1e9; // far more than 2 cores could do in the time between two calls
      h.update();
      expect(h).toMatchObject({ pays: false, generation: 1 });
      h.update();
      expect(h).toMatchObject({ pays: false, generation: 1 });
      othersPerCall = 0;
      h.update();
      expect(h).toMatchObject({ pays: true, generation: 2 });
      expect(changes).toEqual([false, true]);
    } finally {
      h.close();
    }
  });

  it('reads this machine: busy time at least this process own, both growing', () => {
    const a = cpuTimesNow();
    let x = 0;
    for (let i = 0; i < 2e7; i++) x += i % 7;
    const b = cpuTimesNow();
    expect(x).toBeGreaterThan(0);
    expect(b.processMs).toBeGreaterThan(a.processMs);
    expect(b.machineBusyMs).toBeGreaterThanOrEqual(a.machineBusyMs);
  });
});
