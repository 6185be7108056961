// The audit line's JSON for strings and numbers, written without JSON.stringify's call where nothing needs
// escaping: byte for byte what JSON.stringify writes, for any string (lone surrogates, control characters,
// quotes, backslashes, astral characters) and any number.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonNumber, jsonString } from '../../../src/audit/events.js';

describe('jsonString and jsonNumber', () => {
  it('write what JSON.stringify writes, for any UTF-16 string', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => jsonString(s) === JSON.stringify(s)), { numRuns: 5000 });
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (s) => jsonString(s) === JSON.stringify(s)), { numRuns: 2000 });
  });

  it('escape what must be escaped', () => {
    for (const s of ['', 'a"b', 'a\\b', 'line\nbreak', '\u0000', '\u001f', '\ud800', 'x\udc00', '😀', 'é', "it's", '\u2028']) {
      expect(jsonString(s)).toBe(JSON.stringify(s));
    }
  });

  it('write numbers as JSON.stringify does, null for what JSON cannot hold', () => {
    fc.assert(fc.property(fc.double(), (n) => jsonNumber(n) === JSON.stringify(n)), { numRuns: 5000 });
    for (const n of [0, -0, 1e21, 1e-7, -1.5, 2 ** 53, NaN, Infinity, -Infinity]) expect(jsonNumber(n)).toBe(JSON.stringify(n));
  });
});
