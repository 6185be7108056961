// Each strategy over values inside a larger buffer: output bytes, UTF-8 safety, empty values, and the
// hash's determinism and key dependence.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compileSizedStrategy, compileStrategy, countChars, REDACTED, StrategyError, type StrategySpec } from '../../../src/masking/strategies.js';

/** Masks `value` placed between other bytes, as a cell inside a row message. */
function mask(spec: StrategySpec, value: string | Buffer, hashKey?: string): string | null {
  const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const buf = Buffer.concat([Buffer.from('ab'), v, Buffer.from('cd')]);
  const out = compileStrategy(spec, { hashKey })(buf, 2, 2 + v.length);
  return out === null ? null : out.toString('utf8');
}

const partial = (keepFirst: number, keepLast: number): StrategySpec => ({ kind: 'partial', keepFirst, keepLast });

describe('redact', () => {
  it.each(['secret', '', 'ünïcødé'])('replaces %j with ****', (v) => {
    expect(mask({ kind: 'redact' }, v)).toBe('****');
  });
});

describe('partial', () => {
  it('keeps the last characters of an SSN', () => {
    expect(mask(partial(0, 4), '123-45-6789')).toBe('*******6789');
  });
  it('keeps the first character of a name', () => {
    expect(mask(partial(1, 0), 'Jane')).toBe('J***');
  });
  it('keeps both ends', () => {
    expect(mask(partial(2, 2), 'abcdefg')).toBe('ab***fg');
  });
  it('counts characters, not bytes, and never splits a multi-byte character', () => {
    expect(mask(partial(1, 0), 'Ørjan')).toBe('Ø****');
    expect(mask(partial(0, 2), '東京タワー')).toBe('***ワー');
    expect(mask(partial(1, 1), '😀ab😀')).toBe('😀**😀');
    expect(mask(partial(1, 0), 'é'.normalize('NFC') + 'x')).toBe('é*');
  });
  it('masks a value too short to hide anything entirely', () => {
    expect(mask(partial(0, 4), '1234')).toBe('****');
    expect(mask(partial(1, 0), 'J')).toBe('*');
    expect(mask(partial(2, 2), 'äöü')).toBe('***');
  });
  it('leaves an empty value empty', () => {
    expect(mask(partial(1, 4), '')).toBe('');
  });
  it('keeps invalid UTF-8 bytes with their character and masks the rest', () => {
    const out = compileStrategy(partial(0, 1))(Buffer.from([0x80, 0x81, 0x41, 0xc3]), 0, 4);
    expect(out).toEqual(Buffer.from([0x2a, 0x2a, 0xc3]));
  });
  it('always produces valid UTF-8 with one * per hidden character', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 30 }), fc.nat(5), fc.nat(5), (s, keepFirst, keepLast) => {
        const out = mask(partial(keepFirst, keepLast), s)!;
        const chars = [...s];
        expect([...out].length).toBe(chars.length);
        if (keepFirst + keepLast < chars.length) {
          expect(out).toBe(chars.slice(0, keepFirst).join('') + '*'.repeat(chars.length - keepFirst - keepLast) + chars.slice(chars.length - keepLast).join(''));
        } else expect(out).toBe('*'.repeat(chars.length));
      }),
      { numRuns: 2000 },
    );
  });
  it('writes an ASCII value over where it lies, as write would; says a multi-byte value changes length', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), fc.string({ unit: 'grapheme', maxLength: 12 }), fc.nat(5), fc.nat(5), (ascii, any, keepFirst, keepLast) => {
        const st = compileSizedStrategy(partial(keepFirst, keepLast));
        for (const v of [ascii.replace(/[^\x00-\x7f]/g, 'x'), any]) {
          const value = Buffer.from(v, 'utf8');
          const buf = Buffer.concat([Buffer.from('ab'), value, Buffer.from('cd')]);
          const written = compileStrategy(partial(keepFirst, keepLast))(buf, 2, 2 + value.length)!;
          const keeps = st.keepsLength!(buf, 2, 2 + value.length);
          expect(keeps).toBe(written.length === value.length && value.every((b) => b < 0x80));
          if (!keeps) continue;
          st.overwrite!(buf, 2, 2 + value.length);
          expect(buf.toString('latin1')).toBe(`ab${written.toString('latin1')}cd`);
        }
      }),
      { numRuns: 1000 },
    );
    expect(compileSizedStrategy({ kind: 'email' }).overwrite).toBeUndefined();
    expect(compileSizedStrategy({ kind: 'redact' }).overwrite).toBeUndefined();
  });
});

describe('email', () => {
  it('keeps the first letter and the domain', () => {
    expect(mask({ kind: 'email' }, 'jane.doe@example.com')).toBe('j***@example.com');
  });
  it('uses the last @ and keeps a multi-byte first letter whole', () => {
    expect(mask({ kind: 'email' }, 'élodie@exämple.fr')).toBe('é***@exämple.fr');
    expect(mask({ kind: 'email' }, '"a@b"@example.com')).toBe('"***@example.com');
  });
  it('does not reveal a one-character local part', () => {
    expect(mask({ kind: 'email' }, 'j@example.com')).toBe('***@example.com');
    expect(mask({ kind: 'email' }, '@example.com')).toBe('***@example.com');
  });
  it('redacts a value without @', () => {
    expect(mask({ kind: 'email' }, 'not an address')).toBe('****');
    expect(mask({ kind: 'email' }, '')).toBe('****');
  });
});

describe('hash', () => {
  const spec: StrategySpec = { kind: 'hash', length: 16 };
  it('is deterministic for the same value and key', () => {
    const a = mask(spec, 'jane@example.com', 'k1');
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(mask(spec, 'jane@example.com', 'k1')).toBe(a);
  });
  it('is the first hex characters of HMAC-SHA256(key, value)', async () => {
    const { createHmac } = await import('node:crypto');
    expect(mask({ kind: 'hash', length: 64 }, 'ünï', 'key')).toBe(createHmac('sha256', 'key').update('ünï').digest('hex'));
    expect(mask({ kind: 'hash', length: 7 }, 'x', 'key')).toBe(createHmac('sha256', 'key').update('x').digest('hex').slice(0, 7));
  });
  it('depends on the key and the value', () => {
    const a = mask(spec, 'jane@example.com', 'k1');
    expect(mask(spec, 'jane@example.com', 'k2')).not.toBe(a);
    expect(mask(spec, 'jane@example.con', 'k1')).not.toBe(a);
  });
  it('hashes an empty value too', () => {
    expect(mask(spec, '', 'k1')).toMatch(/^[0-9a-f]{16}$/);
  });
  it('refuses to compile without a key or with a bad length', () => {
    expect(() => compileStrategy(spec)).toThrow(StrategyError);
    expect(() => compileStrategy(spec, { hashKey: '' })).toThrow(/needs a key/);
    expect(() => compileStrategy({ kind: 'hash', length: 65 }, { hashKey: 'k' })).toThrow(/1\.\.64/);
  });
});

describe('null and fixed', () => {
  it('null returns SQL NULL', () => {
    expect(mask({ kind: 'null' }, 'anything')).toBeNull();
  });
  it('fixed returns the configured replacement', () => {
    expect(mask({ kind: 'fixed', value: '[hidden] ✓' }, 'anything')).toBe('[hidden] ✓');
    expect(mask({ kind: 'fixed', value: '' }, 'anything')).toBe('');
  });
  it('redact and fixed share one buffer instead of allocating per value', () => {
    const fixed = compileStrategy({ kind: 'fixed', value: 'x' });
    const buf = Buffer.from('abc');
    expect(fixed(buf, 0, 1)).toBe(fixed(buf, 1, 3));
    expect(compileStrategy({ kind: 'redact' })(buf, 0, 3)).toBe(REDACTED);
  });
});

describe('countChars', () => {
  it('counts UTF-8 characters', () => {
    const b = Buffer.from('aé東😀');
    expect(countChars(b, 0, b.length)).toBe(4);
    expect(countChars(b, 0, 0)).toBe(0);
  });
});
