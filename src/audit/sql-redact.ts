// SQL text for the audit: the classifier already replaced literals with `?`; what it could not (text it
// failed to parse, identifiers that hold data) goes through the masking detectors, so an INSERT of an email
// or a card number never puts it in the log.
import { allKinds, scanValue } from '../masking/detectors.js';

/**
 * Texts already redacted. With literals replaced by `?`, a workload repeats a few texts (a prepared statement's
 * text is the same every execution), so the scan runs once per text rather than once per statement. Bounded:
 * only short texts are kept, and the whole map is dropped when it is full (a workload of ever-new texts gains
 * nothing from it anyway).
 */
const cache = new Map<string, string>();
const cacheEntries = 1024;
const cacheTextChars = 2048;

export function redactSql(text: string): string {
  if (text.length > cacheTextChars) return scanAndRedact(text);
  let out = cache.get(text);
  if (out === undefined) {
    out = scanAndRedact(text);
    if (cache.size >= cacheEntries) cache.clear();
    cache.set(text, out);
  }
  return out;
}

function scanAndRedact(text: string): string {
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
