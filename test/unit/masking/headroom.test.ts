// When the masking pool pays (masking.offload: auto): the rule, the measure it reads, and the advice the stage
// follows.
import { describe, expect, it } from 'vitest';
import { CpuHeadroom, cpuTimesNow, hysteresisCores, offloadPays, othersCores, spareCores, type CpuTimes } from '../../../src/masking/headroom.js';

/** Two samples `ms` apart: the machine's cores busy `machineCores` on average, this process `processCores`. */
function between(ms: number, machineCores: number, processCores: number): [CpuTimes, CpuTimes, number] {
  const from = { machineBusyMs: 1_000_000, processMs: 5_000 };
  return [from, { machineBusyMs: from.machineBusyMs + machineCores * ms, processMs: from.processMs + processCores * ms }, ms];
}

describe('othersCores', () => {
  it("is the machine's busy time less this process's, per ms between the samples", () => {
    expect(othersCores(...between(250, 2, 0.8))).toBeCloseTo(1.2);
    expect(othersCores(...between(1000, 3.5, 1))).toBeCloseTo(2.5);
    expect(othersCores(...between(0, 2, 0))).toBe(0);
  });
});

describe('offloadPays', () => {
  it('says no on a 2-core host that also runs the database and its clients', () => {
    // The bench's host: the database backend ~0.9 of a core, the client ~0.3, sqlwarden the rest. While the pool
    // runs, its CPU is sqlwarden's: the others' cores are what count.
    expect(offloadPays(othersCores(...between(250, 2, 0.8)), 2)).toBe(false);
    expect(offloadPays(othersCores(...between(250, 2, 1.0)), 2)).toBe(false);
  });

  it('says yes on a 2-core host of its own (database and clients elsewhere), busy or not', () => {
    expect(offloadPays(othersCores(...between(250, 1.05, 1.0)), 2)).toBe(true);
    expect(offloadPays(othersCores(...between(250, 1.9, 1.85)), 2)).toBe(true);
    expect(offloadPays(0, 2)).toBe(true);
  });

  it('says yes on a larger host until the others leave sqlwarden less than spareCores', () => {
    expect(offloadPays(2.5, 8)).toBe(true);
    expect(offloadPays(8 - spareCores, 8)).toBe(true);
    expect(offloadPays(8 - spareCores + 0.1, 8)).toBe(false);
  });

  it('asks the others for hysteresisCores more before it says yes again', () => {
    const near = 8 - spareCores - hysteresisCores / 2;
    expect(offloadPays(near, 8, true)).toBe(true);
    expect(offloadPays(near, 8, false)).toBe(false);
    expect(offloadPays(8 - spareCores - hysteresisCores, 8, false)).toBe(true);
  });
});

describe('CpuHeadroom', () => {
  /** Samples in which the other processes kept `others()` cores busy over `ms` ms each, sqlwarden none. */
  function machine(ms: number) {
    let t: CpuTimes = { machineBusyMs: 0, processMs: 0 };
    const load = { others: 0 };
    const sample = () => (t = { machineBusyMs: t.machineBusyMs + load.others * ms, processMs: t.processMs });
    return { load, sample };
  }
  // A sample's interval is measured with performance.now(); the samples here pretend a long one, so that the
  // few real ms between two update() calls turn any busy time into many cores.
  const burst = 1e9;

  it('changes its generation with every sample, and says a change of advice once', () => {
    const m = machine(1);
    const changes: boolean[] = [];
    const h = new CpuHeadroom({ intervalMs: 60_000, cores: 2, sample: m.sample, onChange: (pays) => changes.push(pays) });
    try {
      h.update();
      expect(h).toMatchObject({ pays: true, generation: 1 });
      m.load.others = burst;
      h.update();
      expect(h).toMatchObject({ pays: false, generation: 2 });
      h.update();
      expect(h).toMatchObject({ pays: false, generation: 3 });
      m.load.others = 0;
      // A quieter machine is believed gradually: the estimate halves each sample.
      for (let i = 0; i < 200 && h.pays === false; i++) h.update();
      expect(h.pays).toBe(true);
      expect(h.generation).toBeGreaterThan(4);
      expect(changes).toEqual([false, true]);
    } finally {
      h.close();
    }
  });

  /** Samples spanning `interval` ms of machine time each, the others keeping `load.others` cores busy. */
  function timed(interval: number) {
    let t: CpuTimes = { machineBusyMs: 0, processMs: 0 };
    const load = { others: 0 };
    const sample = () => (t = { machineBusyMs: t.machineBusyMs + load.others * interval, processMs: t.processMs });
    const at = { ms: 0 };
    const realNow = performance.now;
    performance.now = () => (at.ms += interval);
    return { load, sample, restore: () => (performance.now = realNow) };
  }

  it('switches the pool off at the first busy sample, and back on only after quiet ones (2 cores)', () => {
    const m = timed(250);
    const h = new CpuHeadroom({ intervalMs: 60_000, cores: 2, sample: m.sample });
    try {
      h.update();
      expect(h.pays).toBe(true);
      // The database starts a read: one sample of it is enough.
      m.load.others = 0.9;
      h.update();
      expect(h.pays).toBe(false);
      // Quiet again: 0.9 -> 0.45 -> 0.225 (under 2 - 1.5 - 0.25 at the second quiet sample).
      m.load.others = 0;
      h.update();
      expect(h.pays).toBe(false);
      h.update();
      expect(h.pays).toBe(true);
    } finally {
      m.restore();
      h.close();
    }
  });

  it('pays for a result only by a sample taken wholly after the result began', () => {
    const m = timed(250);
    const h = new CpuHeadroom({ intervalMs: 60_000, cores: 8, sample: m.sample });
    try {
      h.update();
      const opened = h.generation;
      expect(h.pays).toBe(true);
      expect(h.paysSince(opened)).toBe(false);
      // The sample under way when the result began covered time before it.
      h.update();
      expect(h.paysSince(opened)).toBe(false);
      h.update();
      expect(h.paysSince(opened)).toBe(true);
      // And never while the advice is no.
      m.load.others = 7;
      h.update();
      expect(h.paysSince(opened)).toBe(false);
    } finally {
      m.restore();
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
