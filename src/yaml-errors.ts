// Error locations for the YAML files sqlwarden reads (config, policy, masking rules): the key path as a
// user writes it, and the line it stands on.
import type { Document, LineCounter } from 'yaml';

/** `rules.1.when` -> `rules[1].when` */
export function keyPath(p: readonly PropertyKey[]): string {
  let out = '';
  for (const part of p) out += typeof part === 'number' ? `[${part}]` : out ? `.${String(part)}` : String(part);
  return out || '(top level)';
}

/** The line of the deepest node on `at` that exists in the document. */
export function lineOf(doc: Document, lines: LineCounter, at: readonly PropertyKey[]): number | undefined {
  for (let n = at.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(at.slice(0, n) as (string | number)[], true);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) return lines.linePos(range[0]).line;
  }
  return undefined;
}
