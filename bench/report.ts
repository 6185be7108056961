// Summaries of the samples, the printed table, and the SVG chart of the ratios (hand-written, no dependency).
import type { Read } from './bulk.js';
import type { Small } from './small.js';

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: number[]): Spread {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length === 0 ? NaN : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN };
}

export interface BulkRow {
  client: string;
  target: string;
  rowsPerSec: Spread;
  mbPerSec: Spread;
  /** rows/s of each round, in round order: ratios pair them with direct's and the relay's of the same round. */
  perRound: number[];
  /** The proxy process's CPU time per read (ms), median; absent for direct. */
  proxyCpuMs?: number;
  /** Median over the rounds of this round's figure over direct's (the relay's) in the same round. */
  vsDirect?: number;
  vsRelay?: number;
  masking?: string;
}

export interface SmallRow {
  test: string;
  target: string;
  tps: Spread;
  /** TPS of each round, in round order (see BulkRow.perRound). */
  perRound: number[];
  p50Ms: number;
  p99Ms: number;
  proxyCpuMs?: number;
  /** The proxy's CPU per statement (µs), the median of the rounds': what a statement costs it, whatever the TPS. */
  proxyCpuUs?: number;
  vsDirect?: number;
  vsRelay?: number;
}

export interface ProcessRow {
  target: string;
  cpuSeconds: number;
  peakRssMb: number;
}

export function summarizeBulk(client: string, target: string, reads: Read[], cpu: number[]): BulkRow {
  return {
    client,
    target,
    rowsPerSec: spread(reads.map((r) => (r.rows * 1000) / r.ms)),
    perRound: reads.map((r) => (r.rows * 1000) / r.ms),
    mbPerSec: spread(reads.map((r) => r.bytes / 1e6 / (r.ms / 1000))),
    ...(cpu.length ? { proxyCpuMs: spread(cpu).median } : {}),
  };
}

export function summarizeSmall(test: string, target: string, runs: Small[], cpu: number[]): SmallRow {
  return {
    test,
    target,
    tps: spread(runs.map((r) => r.tps)),
    perRound: runs.map((r) => r.tps),
    p50Ms: spread(runs.map((r) => r.p50Ms)).median,
    p99Ms: spread(runs.map((r) => r.p99Ms)).median,
    ...(cpu.length ? { proxyCpuMs: spread(cpu).median, proxyCpuUs: spread(cpu.map((ms, i) => (ms * 1000) / runs[i]!.transactions)).median } : {}),
  };
}

/**
 * Fills vsDirect / vsRelay within each group (same client or test): the median of the per-round ratios. Each
 * round measures every target back to back, so a round's ratio is taken under the same load; pairing them
 * keeps the machine's drift between rounds out of the ratio (a ratio of medians taken in different rounds
 * moved by up to 0.2 from run to run on a shared 2-core machine).
 */
export function addRatios<T extends { target: string; perRound: number[]; vsDirect?: number; vsRelay?: number }>(rows: T[], group: (r: T) => string): void {
  for (const r of rows) {
    const direct = rows.find((x) => group(x) === group(r) && x.target === 'direct');
    const relay = rows.find((x) => group(x) === group(r) && x.target === 'relay');
    if (direct && r.target !== 'direct') r.vsDirect = pairedRatio(r.perRound, direct.perRound);
    if (relay && r.target !== 'relay' && r.target !== 'direct') r.vsRelay = pairedRatio(r.perRound, relay.perRound);
  }
}

/** Median over the rounds both have of a[k] / b[k]. */
export function pairedRatio(a: number[], b: number[]): number {
  const ratios: number[] = [];
  for (let k = 0; k < Math.min(a.length, b.length); k++) ratios.push(a[k]! / b[k]!);
  return spread(ratios).median;
}

// ---- text table ----

const fmt = (n: number | undefined, digits = 0) =>
  n === undefined || !Number.isFinite(n) ? '' : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function table(head: string[], rows: string[][], rightFrom: number): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i >= rightFrom ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function bulkTable(rows: BulkRow[]): string {
  const head = ['client', 'target', 'rows/s', 'MB/s', 'MB/s min-max', 'vs direct', 'vs relay', 'proxy CPU ms', 'masking'];
  const body = rows.map((r) => [
    r.client,
    r.target,
    fmt(r.rowsPerSec.median),
    fmt(r.mbPerSec.median, 1),
    `${fmt(r.mbPerSec.min, 1)}-${fmt(r.mbPerSec.max, 1)}`,
    fmt(r.vsDirect, 2),
    fmt(r.vsRelay, 2),
    fmt(r.proxyCpuMs),
    r.masking ?? '',
  ]);
  return table(head, body, 2);
}

export function smallTable(rows: SmallRow[]): string {
  const head = ['test', 'target', 'TPS', 'TPS min-max', 'p50 ms', 'p99 ms', 'vs direct', 'vs relay', 'proxy CPU ms', 'proxy µs/stmt'];
  const body = rows.map((r) => [
    r.test,
    r.target,
    fmt(r.tps.median),
    `${fmt(r.tps.min)}-${fmt(r.tps.max)}`,
    fmt(r.p50Ms, 3),
    fmt(r.p99Ms, 3),
    fmt(r.vsDirect, 2),
    fmt(r.vsRelay, 2),
    fmt(r.proxyCpuMs),
    fmt(r.proxyCpuUs),
  ]);
  return table(head, body, 2);
}

export function processTable(rows: ProcessRow[]): string {
  return table(['process', 'CPU s (whole run)', 'peak RSS MB'], rows.map((r) => [r.target, fmt(r.cpuSeconds, 1), fmt(r.peakRssMb)]), 1);
}

// ---- SVG chart: one bar per (measurement, target), its ratio to direct ----

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const palette: Record<string, string> = {
  relay: '#8c8c8c',
  passthrough: '#1f77b4',
  'columns-inline': '#2ca02c',
  'columns-workers': '#98df8a',
  'detect-inline': '#d62728',
  'detect-workers': '#ff9896',
  'detect-pool': '#e377c2',
  'shipped-rules': '#9467bd',
};

export function ratioChart(title: string, groups: { name: string; bars: { target: string; ratio: number }[] }[]): string {
  const barH = 14;
  const gap = 10;
  const left = 230;
  const plotW = 520;
  // Past 2x the bar is cut (its label still says the ratio): one outlier should not squash the rest.
  const maxRatio = Math.min(2, Math.max(1.2, ...groups.flatMap((g) => g.bars.map((b) => b.ratio)).filter(Number.isFinite)));
  const x = (r: number) => left + (Math.min(r, maxRatio) / maxRatio) * plotW;
  const parts: string[] = [];
  let y = 40;
  for (const g of groups) {
    parts.push(`<text x="8" y="${y + 11}" font-weight="bold">${esc(g.name)}</text>`);
    y += 16;
    for (const b of g.bars) {
      const w = Number.isFinite(b.ratio) ? x(b.ratio) - left : 0;
      parts.push(
        `<text x="${left - 6}" y="${y + 11}" text-anchor="end">${esc(b.target)}</text>`,
        `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${palette[b.target] ?? '#555'}"/>`,
        `<text x="${(left + w + 4).toFixed(1)}" y="${y + 11}">${Number.isFinite(b.ratio) ? b.ratio.toFixed(2) : 'n/a'}</text>`,
      );
      y += barH + 3;
    }
    y += gap;
  }
  const height = y + 20;
  const width = left + plotW + 60;
  const one = x(1).toFixed(1);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="8" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    ...parts,
    `<line x1="${one}" y1="30" x2="${one}" y2="${y}" stroke="#000" stroke-dasharray="4 3"/>`,
    `<text x="${one}" y="${y + 14}" text-anchor="middle">1.0 = direct</text>`,
    '</svg>',
    '',
  ].join('\n');
}

// ---- the issue's targets ----

export interface Goal {
  what: string;
  target: number;
  /** "client or test: ratio" for each measurement the goal covers. */
  ratios: { on: string; ratio: number; met: boolean }[];
  note?: string;
}

/** Ratios the project holds itself to (issue 7): each measurement listed, met or not. */
export function goals(bulk: BulkRow[], small: SmallRow[], engine: { id: string; mbPerSec: number }[] = []): Goal[] {
  const pick = <T extends { target: string }>(rows: T[], targets: string[], on: (r: T) => string, ratio: (r: T) => number | undefined, target: number) =>
    rows
      .filter((r) => targets.includes(r.target) && ratio(r) !== undefined)
      .map((r) => ({ on: `${on(r)} ${r.target}`, ratio: ratio(r)!, met: ratio(r)! >= target }));
  const inactive = (targets: string[]) =>
    bulk.some((r) => targets.includes(r.target) && r.masking !== 'active') ? 'masking not active in sessions yet: these rows were not masked' : undefined;
  const out: Goal[] = [
    { what: 'passthrough vs relay (bulk rows/s)', target: 0, ratios: pick(bulk, ['passthrough'], (r) => r.client, (r) => r.vsRelay, 0) },
    { what: '3 masked columns vs direct (bulk rows/s)', target: 0.85, ratios: pick(bulk, ['columns-inline', 'columns-workers'], (r) => r.client, (r) => r.vsDirect, 0.85), note: inactive(['columns-inline', 'columns-workers']) },
    { what: 'detectors vs direct (bulk rows/s)', target: 0.7, ratios: pick(bulk, ['detect-inline', 'detect-workers', 'detect-pool'], (r) => r.client, (r) => r.vsDirect, 0.7), note: inactive(['detect-inline', 'detect-workers', 'detect-pool']) },
    { what: 'small queries vs relay (TPS)', target: 1.0, ratios: pick(small, ['passthrough'], (r) => r.test, (r) => r.vsRelay, 1.0), note: cpuPerStatement(small) },
    // The engine's targets are MB/s per core, not ratios: the "ratio" is MB/s over the target.
    { what: 'masking engine, column rules, MB/s / 200 (one core)', target: 1, ratios: engineGoal(engine, ['columns', 'columns-native'], 200) },
    { what: 'masking engine, detectors, MB/s / 50 (one core)', target: 1, ratios: engineGoal(engine, ['detect-shipped', 'detect-all', 'detect-all-native'], 50) },
  ];
  return out.filter((g) => g.ratios.length > 0);
}

/** "proxy µs a statement, sqlwarden / relay: test a/b, ...": what the TPS ratio comes from on a machine the proxy shares. */
function cpuPerStatement(small: SmallRow[]): string | undefined {
  const us = (test: string, target: string) => small.find((r) => r.test === test && r.target === target)?.proxyCpuUs;
  const pairs = [...new Set(small.map((r) => r.test))].flatMap((test) => {
    const [ours, relay] = [us(test, 'passthrough'), us(test, 'relay')];
    return ours === undefined || relay === undefined ? [] : [`${test} ${Math.round(ours)}/${Math.round(relay)}`];
  });
  return pairs.length ? `proxy CPU µs a statement, sqlwarden / relay: ${pairs.join(', ')}` : undefined;
}

function engineGoal(engine: { id: string; mbPerSec: number }[], ids: string[], mbPerSec: number): Goal['ratios'] {
  return engine.filter((f) => ids.includes(f.id)).map((f) => ({ on: `${f.id} ${f.mbPerSec.toFixed(0)} MB/s:`, ratio: f.mbPerSec / mbPerSec, met: f.mbPerSec >= mbPerSec }));
}

export function goalsText(list: Goal[]): string {
  const lines: string[] = [];
  for (const g of list) {
    const met = g.ratios.filter((r) => r.met).length;
    lines.push(`${g.what}${g.target ? `, target >= ${g.target}: met by ${met} of ${g.ratios.length}` : ''}${g.note ? ` (${g.note})` : ''}`);
    lines.push(`  ${g.ratios.map((r) => `${r.on} ${fmt(r.ratio, 2)}${g.target && !r.met ? ' (below)' : ''}`).join(', ')}`);
  }
  return lines.join('\n');
}
