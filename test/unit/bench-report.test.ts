// The bench's ratios pair each round's figure with direct's (or the relay's) of the same round, so a machine
// that runs slower in one round than in another does not move the ratio.
import { describe, expect, it } from 'vitest';
import { addRatios, pairedRatio } from '../../bench/report.js';

describe('bench ratios', () => {
  it('takes the median of the per-round ratios', () => {
    expect(pairedRatio([90, 45, 180], [100, 50, 200])).toBeCloseTo(0.9);
    expect(pairedRatio([1, 2, 3, 4], [1, 1, 1, 1])).toBe(2.5);
  });

  it('pairs rounds: a round when the whole machine ran at half speed moves nothing', () => {
    // Medians of each target alone would give 100 / 60 (direct's middle rounds were the slow ones).
    const rows = [
      { target: 'direct', perRound: [200, 100, 100, 200] },
      { target: 'relay', perRound: [180, 90, 90, 180] },
      { target: 'passthrough', perRound: [100, 160, 160, 100] },
      { target: 'masked', perRound: [160, 80, 80, 160] },
    ].map((r) => ({ ...r, vsDirect: undefined as number | undefined, vsRelay: undefined as number | undefined }));
    addRatios(rows, () => 'one client');
    expect(rows[1]!.vsDirect).toBeCloseTo(0.9);
    expect(rows[3]!.vsDirect).toBeCloseTo(0.8);
    expect(rows[3]!.vsRelay).toBeCloseTo(0.8 / 0.9);
    expect(rows[0]!.vsDirect).toBeUndefined();
    expect(rows[1]!.vsRelay).toBeUndefined();
  });
});

describe('small-query rows', () => {
  it("give the proxy's CPU per statement, the median of the rounds' own", async () => {
    const { summarizeSmall } = await import('../../bench/report.js');
    const runs = [
      { tps: 5000, p50Ms: 1, p99Ms: 2, transactions: 10_000 },
      { tps: 2500, p50Ms: 1, p99Ms: 2, transactions: 5_000 },
      { tps: 4000, p50Ms: 1, p99Ms: 2, transactions: 8_000 },
    ];
    // 1,200 ms for 10,000 statements, 1,000 for 5,000, 800 for 8,000: 120, 200 and 100 µs a statement.
    const row = summarizeSmall('pgbench-simple-8', 'passthrough', runs, [1200, 1000, 800]);
    expect(row.proxyCpuUs).toBeCloseTo(120);
    expect(row.proxyCpuMs).toBe(1000);
    expect(summarizeSmall('pgbench-simple-8', 'direct', runs, []).proxyCpuUs).toBeUndefined();
  });
});
