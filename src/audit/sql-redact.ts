// SQL text for the audit: the classifier already replaced literals with `?`; what it could not (text it
// failed to parse, identifiers that hold data) goes through the masking detectors, so an INSERT of an email
// or a card number never puts it in the log.
import { allKinds, scanValue } from '../masking/detectors.js';

export function redactSql(text: string): string {
  const buf = Buffer.from(text, 'utf8');
  const spans: [number, number][] = [];
  scanValue(buf, 0, buf.length, allKinds, (_kind, start, end) => spans.push([start, end]));
  if (spans.length === 0) return text;
  spans.sort((a, b) => a[0] - b[0]);
  let out = '';
  let pos = 0;
  for (const [start, end] of spans) {
    if (end <= pos) continue;
    out += buf.toString('utf8', pos, Math.max(pos, start)) + '****';
    pos = end;
  }
  return out + buf.toString('utf8', pos);
}
