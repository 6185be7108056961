// Shared by the masking unit tests: detector matches as readable [kind, text] pairs.
import { detectorKinds, kindSet, scanValue, allKinds, type DetectorKind } from '../../../src/masking/detectors.js';

/** Every match scanValue reports in `text` (padded inside a larger buffer, so offsets are exercised). */
export function find(text: string, kinds: readonly DetectorKind[] | 'all' = 'all'): [DetectorKind, string][] {
  const value = Buffer.from(text, 'utf8');
  const buf = Buffer.concat([Buffer.from('\x00pre\x00'), value, Buffer.from('\x00post')]);
  const start = 5;
  const out: [DetectorKind, string][] = [];
  scanValue(buf, start, start + value.length, kinds === 'all' ? allKinds : kindSet(kinds), (kind, s, e) => {
    if (s < start || e > start + value.length || s >= e) throw new Error(`span [${s}, ${e}) outside the value`);
    out.push([detectorKinds[kind]!, buf.toString('utf8', s, e)]);
  });
  return out;
}
