// Every detector against values that hold the thing (alone and inside text) and values that only look
// like it: checksums, ranges and shapes must keep plain numbers, dates, ids and prose unflagged.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { find } from './helpers.js';
import { allKinds, detectorId, detectorKinds, kindSet, kindsOf, NOT_WHOLE, scanValue, WHOLE, WHOLE_ASCII, wholeMatch, type DetectorKind } from '../../../src/masking/detectors.js';
import { SpanMasker } from '../../../src/masking/plan.js';
import { compileSizedStrategy } from '../../../src/masking/strategies.js';

const jwtPart = (o: unknown) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');
const jwt = `${jwtPart({ alg: 'HS256', typ: 'JWT' })}.${jwtPart({ sub: '1234567890', name: 'John Doe', iat: 1516239022 })}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c`;

describe('email detector', () => {
  it('finds an address inside text and reports only the address', () => {
    expect(find('contact: jane@x.io today', ['email'])).toEqual([['email', 'jane@x.io']]);
  });
  it('keeps a sentence-ending dot out of the domain and accepts plus tags and subdomains', () => {
    expect(find('Write to Jane.Doe+tag@mail.example.co.uk.', ['email'])).toEqual([['email', 'Jane.Doe+tag@mail.example.co.uk']]);
  });
  it('finds every address in a list', () => {
    expect(find('a@b.com,c.d@e-f.org; mailto:g@h.net', ['email'])).toEqual([
      ['email', 'a@b.com'],
      ['email', 'c.d@e-f.org'],
      ['email', 'g@h.net'],
    ]);
  });
  it('does not take delimiters into the local part', () => {
    expect(find('email=jane@x.io', ['email'])).toEqual([['email', 'jane@x.io']]);
  });
  it('does not let an address start inside the previous one', () => {
    expect(find('a@b.com+c@d.com', ['email'])).toEqual([
      ['email', 'a@b.com'],
      ['email', 'c@d.com'],
    ]);
  });
  it('keeps several trailing dots out of the domain, accepts a 63-character label and a mixed-case TLD', () => {
    expect(find('mail a@b.com.. now', ['email'])).toEqual([['email', 'a@b.com']]);
    const label63 = 'a'.repeat(63);
    expect(find(`a@${label63}.io`, ['email'])).toEqual([['email', `a@${label63}.io`]]);
    expect(find('a@B.CoM', ['email'])).toEqual([['email', 'a@B.CoM']]);
  });
  it.each(['a@b..com', 'a@b.com..x', 'a@x.io-', 'a@x.i1o', 'a@x.io-y', 'a@x.io.-', `a@${'a'.repeat(64)}.io`])('does not flag the bad domain %j', (text) => {
    expect(find(text, ['email'])).toEqual([]);
  });
  it.each(['user@localhost', '@handle on twitter', 'foo@bar', 'x@1.2', 'a@b.c', 'email me @ home', 'jane@-x.io', 'jane.@x.io', 'a@@b.com'])(
    'does not flag %j',
    (text) => {
      expect(find(text, ['email'])).toEqual([]);
    },
  );
});

describe('credit_card detector', () => {
  it.each(['4111111111111111', '4111 1111 1111 1111', '4111-1111-1111-1111', '5500 0000 0000 0004', '378282246310005', '3782 822463 10005'])(
    'flags the Luhn-valid card %j',
    (card) => {
      expect(find(`paid with ${card} yesterday`, ['credit_card'])).toEqual([['credit_card', card]]);
    },
  );
  it.each([
    ['a Luhn-invalid number', '4111111111111112'],
    ['too few digits', '411111111111'],
    ['too many digits', '41111111111111111111'],
    ['an issuer digit no card uses', '1234567890123452'],
    ['one repeated digit', '0000000000000000'],
    ['mixed separators', '4111 1111-1111 1111'],
    ['a card glued to an identifier', 'id_4111111111111111'],
    ['a decimal', '4111111111111111.50'],
    ['a dash-continued number', '4111-1111-1111-1111-22'],
  ])('does not flag %s', (_, text) => {
    expect(find(text, ['credit_card'])).toEqual([]);
  });
  it('finds a card after a label and colon', () => {
    expect(find('card:4111111111111111', ['credit_card'])).toEqual([['credit_card', '4111111111111111']]);
  });
  it('finds a card followed by another space-separated number', () => {
    expect(find('card 4111 1111 1111 1111 2024', ['credit_card'])).toEqual([['credit_card', '4111 1111 1111 1111']]);
  });
});

describe('number shapes at the edges of what each detector accepts', () => {
  // The scanner tries a kind only when a number's first group fits it; these sit on those limits.
  it.each([
    ['credit_card', '4222222222222'],
    ['credit_card', '6222222222222222222'],
    ['credit_card', '2223003122003222'],
    ['credit_card', '6222 2222 2222 2222 222'],
    ['phone', '12345 67 8901'],
    ['phone', '415.555.2671'],
    ['ipv4', '255.255.255.255'],
    ['ipv4', '1.2.3.4'],
    ['us_ssn', '665 12 3456'],
    ['phone', '+12345678'],
    ['phone', '+123456789012345'],
  ] as const)('flags the %s %j', (kind, text) => {
    expect(find(`x ${text} y`, [kind])).toEqual([[kind, text]]);
  });
  it.each([
    ['credit_card', '62222222222222222222'],
    ['credit_card', '1222222222222'],
    ['credit_card', '7222222222222'],
    ['phone', '123456 78 9012'],
    ['ipv4', '2555.1.1.1'],
    ['us_ssn', '1234-56-7890'],
  ] as const)('does not flag the %s look-alike %j', (kind, text) => {
    expect(find(`x ${text} y`, [kind])).toEqual([]);
  });
});

describe('number scan range', () => {
  it('finds a phone whose ( opens the value', () => {
    expect(find('(415) 555-2671 and 12345678', ['phone'])).toEqual([['phone', '(415) 555-2671']]);
  });
  it('counts digits only outside a matched token, yet looks for numbers inside it', () => {
    const pem = '-----BEGIN PRIVATE KEY-----\n4111 1111 1111 1111\n-----END PRIVATE KEY-----';
    expect(find(`${pem} on 2023-10-12`, ['private_key', 'credit_card'])).toEqual([
      ['private_key', pem],
      ['credit_card', '4111 1111 1111 1111'],
    ]);
    expect(find(`${pem} on 2023`, ['private_key', 'credit_card'])).toEqual([['private_key', pem]]);
  });
});

describe('us_ssn detector', () => {
  it.each(['123-45-6789', '123 45 6789', '078-05-1120'])('flags %j inside text', (ssn) => {
    expect(find(`SSN: ${ssn}.`, ['us_ssn'])).toEqual([['us_ssn', ssn]]);
  });
  it.each([
    ['area 000', '000-12-3456'],
    ['area 666', '666-12-3456'],
    ['area 9xx', '900-12-3456'],
    ['group 00', '123-00-4567'],
    ['serial 0000', '123-45-0000'],
    ['a date', '2023-10-12'],
    ['nine plain digits', '123456789'],
    ['a longer serial', '123-45-67890'],
    ['mixed separators', '123-45 6789'],
    ['a prefix of a longer dashed number', '123-45-6789-12'],
    ['part of an identifier', 'INV-123-45-6789'],
    ['digits after a time-like colon', '12:123-45-6789'],
  ])('does not flag %s', (_, text) => {
    expect(find(text, ['us_ssn'])).toEqual([]);
  });
});

describe('phone detector', () => {
  it.each(['+14155552671', '+44 20 7946 0958', '+1 (415) 555-2671', '+33 1 23 45 67 89', '(415) 555-2671', '415-555-2671', '415.555.2671', '1-800-555-0199', '020 7946 0958'])(
    'flags %j',
    (phone) => {
      expect(find(`call ${phone} after 5`, ['phone'])).toEqual([['phone', phone]]);
    },
  );
  it('stops before a parenthesized word after the number', () => {
    expect(find('415-555-2671 (home)', ['phone'])).toEqual([['phone', '415-555-2671']]);
  });
  it.each([
    ['ungrouped digits', '4155552671'],
    ['a date', '2023-10-12'],
    ['a US date', '12/25/2023'],
    ['a timestamp', '2023-10-12 14:30:45'],
    ['an order id', 'ORD-415-555-2671'],
    ['an IPv4 address', '192.168.100.200'],
    ['an order number', 'Order #12345678'],
    ['an amount', '1,234,567.89'],
    ['a version', 'v1.2.3'],
    ['too few digits after +', '+1234567'],
    ['too many digits after +', '+1234567890123456'],
    ['too many digits in groups', '+1 234 567 890 123 456'],
    ['a short last group', '12 345 678 901'],
    ['a long group', '(415) 5552671'],
  ])('does not flag %s', (_, text) => {
    expect(find(text, ['phone'])).toEqual([]);
  });
});

describe('ipv4 and ipv6 detectors', () => {
  it('flags an IPv4 address followed by a port', () => {
    expect(find('from 192.168.1.20:5432 at noon', ['ipv4'])).toEqual([['ipv4', '192.168.1.20']]);
  });
  it.each(['1.2.3.4.5', '256.1.1.1', '01.2.3.4', 'v1.2.3.4', '1.2.3'])('does not flag %j as IPv4', (text) => {
    expect(find(text, ['ipv4'])).toEqual([]);
  });
  it.each(['2001:db8::8a2e:370:7334', 'fe80::1', '2001:0db8:85a3:0000:0000:8a2e:0370:7334', '::ffff:192.0.2.1', '2001:db8::', '0:0:0:0:0:ffff:192.0.2.1'])('flags the IPv6 address %j', (ip) => {
    expect(find(`peer ${ip} connected`, ['ipv6'])).toEqual([['ipv6', ip]]);
  });
  it('finds an address inside a PEM block as well as the block (each detector reports its own matches)', () => {
    const pem = '-----BEGIN PRIVATE KEY-----\nfe80::1234:5678\n-----END PRIVATE KEY-----';
    expect(find(`${pem} at 10:30:00`, ['private_key', 'ipv6'])).toEqual([
      ['private_key', pem],
      ['ipv6', 'fe80::1234:5678'],
    ]);
  });
  it.each(['12:30:45', 'std::cout', 'a::b', '00:1a:2b:3c:4d:5e', '::1', 'note: see: below'])('does not flag %j as IPv6', (text) => {
    expect(find(text, ['ipv6'])).toEqual([]);
  });
});

describe('iban detector', () => {
  it.each(['DE89370400440532013000', 'DE89 3704 0044 0532 0130 00', 'GB82 WEST 1234 5698 7654 32', 'NL91ABNA0417164300', 'NO9386011117947'])('flags %j', (iban) => {
    expect(find(`pay to ${iban}, thanks`, ['iban'])).toEqual([['iban', iban]]);
  });
  it.each([
    ['a wrong check digit', 'DE89370400440532013001'],
    ['a country not in the registry', 'ZZ89370400440532013000'],
    ['a wrong length for the country', 'DE8937040044053201300'],
    ['lowercase letters', 'gb82west12345698765432'],
    ['irregular grouping', 'DE89 37040044 0532 0130 00'],
  ])('does not flag %s', (_, text) => {
    expect(find(text, ['iban'])).toEqual([]);
  });
});

describe('jwt detector', () => {
  it('flags a JWT inside text', () => {
    expect(find(`session=${jwt}; path=/`, ['jwt'])).toEqual([['jwt', jwt]]);
  });
  it('flags an unsigned JWT (empty signature)', () => {
    const unsigned = `${jwtPart({ alg: 'none' })}.${jwtPart({ sub: 'x' })}.`;
    expect(find(unsigned, ['jwt'])).toEqual([['jwt', unsigned]]);
  });
  it('does not flag three base64url parts whose header is not JSON', () => {
    expect(find(`${jwtPart('{"alg": HS256 broken')}.${jwtPart({ sub: 'x' })}.c2ln`, ['jwt'])).toEqual([]);
  });
  it('does not flag a header without "alg"', () => {
    expect(find(`${jwtPart({ typ: 'JWT', kid: 'k1' })}.${jwtPart({ sub: 'x' })}.c2lnbmF0dXJl`, ['jwt'])).toEqual([]);
  });
  it('does not flag two parts', () => {
    expect(find(`${jwtPart({ alg: 'HS256' })}.${jwtPart({ sub: 'x' })}`, ['jwt'])).toEqual([]);
  });
});

describe('aws_access_key detector', () => {
  it.each(['AKIAIOSFODNN7EXAMPLE', 'ASIAY34FZKBOKMUTVV7A'])('flags %j', (key) => {
    expect(find(`aws_access_key_id = ${key}`, ['aws_access_key'])).toEqual([['aws_access_key', key]]);
  });
  it.each(['AKIAIOSFODNN7EXAMPL', 'AKIAIOSFODNN7EXAMPLEX', 'AKIAiosfodnn7example', 'AGPAIOSFODNN7EXAMPLE'])('does not flag %j', (text) => {
    expect(find(text, ['aws_access_key'])).toEqual([]);
  });
});

describe('private_key detector', () => {
  const body = 'MIIEowIBAAKCAQEAv1mJ\nq2cXgUeQ4A==';
  it('flags a PEM private key block with its BEGIN and END lines', () => {
    const pem = `-----BEGIN RSA PRIVATE KEY-----\n${body}\n-----END RSA PRIVATE KEY-----`;
    expect(find(`key:\n${pem}\ntrailing`, ['private_key'])).toEqual([['private_key', pem]]);
  });
  it('flags a block without an END line up to the end of the value', () => {
    const pem = `-----BEGIN PRIVATE KEY-----\n${body}`;
    expect(find(pem, ['private_key'])).toEqual([['private_key', pem]]);
  });
  it.each(['-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----'])('does not flag %j', (text) => {
    expect(find(text, ['private_key'])).toEqual([]);
  });
});

describe('bearer_token and api_token detectors', () => {
  it('flags the credential of a Bearer header and keeps the scheme', () => {
    expect(find('Authorization: Bearer abcdefghijklmnop1234.xyz_-~+/==', ['bearer_token'])).toEqual([['bearer_token', 'abcdefghijklmnop1234.xyz_-~+/==']]);
  });
  it('flags a lowercase bearer with a JWT credential as one match', () => {
    expect(find(`bearer ${jwt}`, ['bearer_token', 'jwt'])).toEqual([['bearer_token', jwt]]);
  });
  it.each(['Bearer of bad news', 'Bearer short123', 'unbearer abcdefghijklmnop1234'])('does not flag %j', (text) => {
    expect(find(text, ['bearer_token'])).toEqual([]);
  });
  it.each([
    'ghp_' + 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8',
    'gho_' + 'Z'.repeat(36),
    'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz',
    'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx',
    'xoxp-1234567890-abcdefghij',
    'sk_live_4eC39HqLyjWDarjtT1zdp7dc',
    'rk_test_4eC39HqLyjWDarjtT1zdp7dc',
    'sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789',
    'AIzaSyA-1234567890abcdefghijklmnopqrstu',
  ])('flags the API key %j inside text', (key) => {
    expect(find(`token=${key} end`, ['api_token'])).toEqual([['api_token', key]]);
  });
  // The scanner skips runs shorter than any key their first byte can start: the shortest keys must still match.
  it.each([
    ['ghp_', 36],
    ['github_pat_', 22],
    ['xoxb-', 10],
    ['sk_live_', 16],
    ['rk_live_', 16],
    ['sk-', 32],
    ['AIza', 35],
  ] as const)('flags a %s key of the shortest body (%i) and not one character shorter', (prefix, min) => {
    const key = prefix + 'a1B2c3D4e5'.repeat(4).slice(0, min);
    expect(find(`k ${key} end`, ['api_token'])).toEqual([['api_token', key]]);
    expect(find(`k ${key.slice(0, -1)} end`, ['api_token'])).toEqual([]);
  });
  it.each(['sk-short', 'ghp_short', 'pk_live_4eC39HqLyjWDarjtT1zdp7dc', 'a task-list-for-the-week-and-the-month-after', 'xoxb-abc', 'AIzaSyA-tooShort'])('does not flag %j', (text) => {
    expect(find(text, ['api_token'])).toEqual([]);
  });
});

describe('scanValue', () => {
  it('runs only the enabled detectors', () => {
    const text = 'jane@x.io 4111111111111111 123-45-6789';
    expect(find(text, ['us_ssn'])).toEqual([['us_ssn', '123-45-6789']]);
    expect(find(text).map(([k]) => k).sort()).toEqual(['credit_card', 'email', 'us_ssn']);
  });
  it('reports nothing for prose, dates, amounts and multi-byte text', () => {
    for (const text of [
      'The quick brown fox jumps over the lazy dog at 10:30 on 2023-10-12.',
      'Total: 1,234.56 EUR for 3 items (order 2023-000123)',
      'Grüße aus Köln — 東京で会いましょう 🎉',
      'request 550e8400-e29b-41d4-a716-446655440000 at 2023-10-12T14:30:45.123+02:00',
      'ISBN 978-3-16-148410-0, sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      'Build 20231012.1430 of v2.14.3; tracking 1Z999AA10123456784; SKU-4111-1111',
      '',
    ]) {
      expect(find(text)).toEqual([]);
    }
  });
  it('reports matches at the very start and end of the value', () => {
    expect(find('4111111111111111')).toEqual([['credit_card', '4111111111111111']]);
    expect(find('jane@x.io')).toEqual([['email', 'jane@x.io']]);
    expect(find('AKIAIOSFODNN7EXAMPLE')).toEqual([['aws_access_key', 'AKIAIOSFODNN7EXAMPLE']]);
  });
  it('never reads outside [start, end)', () => {
    // The same digits continue past the end of the value: a card must not be completed from them.
    const buf = Buffer.from('xx4111111111111111');
    const spans: number[][] = [];
    scanValue(buf, 2, 10, allKinds, (_, s, e) => spans.push([s, e]));
    expect(spans).toEqual([]);
  });
  it('converts between kind names and sets', () => {
    expect(kindsOf(kindSet(['jwt', 'email']))).toEqual(['email', 'jwt']);
    expect(kindsOf(allKinds)).toEqual([...detectorKinds]);
  });
});

describe('scanValue on arbitrary input', () => {
  it('never throws, and finds the same spans whatever bytes surround the value', () => {
    const pieces = fc.constantFrom('4111', ' ', '-', '.', ':', '@', 'x.io', '+1', '(415)', 'eyJ', 'AKIA', 'DE89', 'Bearer ', 'ghp_', '-----BEGIN ', '::', 'é', '0', '9');
    fc.assert(
      fc.property(fc.oneof(fc.array(pieces, { maxLength: 40 }).map((a) => a.join('')), fc.string({ unit: 'binary', maxLength: 80 })), (text) => {
        find(text);
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 30 }), fc.nat(), fc.nat(), (parts, a, b) => {
        const buf = Buffer.from(parts.join(''));
        const start = buf.length ? a % buf.length : 0;
        const end = start + (b % (buf.length - start + 1));
        const inPlace: number[] = [];
        scanValue(buf, start, end, allKinds, (kind, s, e) => {
          if (s < start || e > end || s >= e) throw new Error(`span [${s}, ${e}) outside [${start}, ${end})`);
          inPlace.push(kind, s - start, e - start);
        });
        // The bytes around the value must not change what is found in it.
        const alone: number[] = [];
        scanValue(Buffer.from(buf.subarray(start, end)), 0, end - start, allKinds, (kind, s, e) => alone.push(kind, s, e));
        expect(inPlace).toEqual(alone);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('a column whose values are whole e-mails, cards or SSNs', () => {
  // Each detector writes its own fixed text, so the masked value shows which kind won where.
  const masker = (kinds: readonly DetectorKind[]) =>
    new SpanMasker(kinds.map((kind) => ({ kind, sized: compileSizedStrategy({ kind: 'fixed', value: `<${kind}>` }) })));
  const scanned = (m: SpanMasker, value: string, column?: number) => {
    const buf = Buffer.from(`..${value}..`);
    const r = m.mask(buf, 2, buf.length - 2, column);
    return { text: r == null ? r : r.toString(), found: m.found };
  };
  const primers: [DetectorKind, string][] = [
    ['email', 'jane@x.io'],
    ['credit_card', '4111 1111 1111 1111'],
    ['us_ssn', '123-45-6789'],
  ];

  it('finds in the next value what the scan finds, whatever it holds', () => {
    const pieces = fc.constantFrom(
      'jane', 'o.brien', 'zoë', '+tag', '@', '@x.io', '.example.com', '-', '.', ' ', '4111', '1111', '5555', '123', '45', '6789',
      '000', '-00-', 'eyJhbGciOiJIUzI1NiJ9', '.e30.', 'AKIAIOSFODNN7EXAMPLE', 'DE89 3704 0044 0532 0130 00', 'Bearer ', '-----BEGIN ',
      '::', '192.168.0.1', '+1 (415) 555-2671', 'é', '0', '9', 'x',
    );
    // Whole matches and near misses, alone or with pieces around them.
    const samples = fc.constantFrom(
      'jane@x.io', 'o.brien42@mail.example.org', 'zoë@x.io', '.jane@x.io', 'jane.@x.io', 'jane@x', '4111 1111 1111 1111',
      '4111-1111-1111-1111', '4111111111111111', '4111111111111112', '5555555555554444', '4111 1111 1111 1111 2024', '123-45-6789',
      '123 45 6789', '666-45-6789', '123-45-67890', '',
    );
    const values = fc.oneof(
      fc.array(pieces, { maxLength: 12 }).map((a) => a.join('')),
      fc.tuple(fc.array(pieces, { maxLength: 2 }), samples, fc.array(pieces, { maxLength: 2 })).map(([a, v, b]) => a.join('') + v + b.join('')),
    );
    const kindLists = fc.subarray([...detectorKinds], { minLength: 1 });
    fc.assert(
      fc.property(fc.constantFrom(...primers), kindLists, values, ([primeKind, primer], kinds, value) => {
        const withKinds = kinds.includes(primeKind) ? kinds : [...kinds, primeKind];
        const learning = masker(withKinds);
        scanned(learning, primer, 3);
        expect(scanned(learning, value, 3)).toEqual(scanned(masker(withKinds), value));
        // A whole match says whether its bytes are all ASCII (what lets a row masker skip keepsLength).
        const bytes = Buffer.from(value);
        const whole = wholeMatch(detectorId[primeKind], bytes, 0, bytes.length);
        if (whole !== NOT_WHOLE) expect(whole).toBe(bytes.every((b) => b < 0x80) ? WHOLE_ASCII : WHOLE);
      }),
      { numRuns: 5000 },
    );
  });

  it('says a value is one whole e-mail, card or SSN exactly when the scan finds one match spanning it', () => {
    // Digits with the Luhn check digit made right or wrong, repeated digits, and groups or separators that
    // matchCard and matchSsn take or refuse.
    const luhnValid = (digits: string): string => {
      for (let check = 0; check < 10; check++) {
        const d = digits + check;
        let sum = 0;
        for (let k = 0; k < d.length; k++) {
          const v = Number(d[d.length - 1 - k]);
          sum += k % 2 ? [0, 2, 4, 6, 8, 1, 3, 5, 7, 9][v]! : v;
        }
        if (sum % 10 === 0) return d;
      }
      throw new Error('unreachable');
    };
    const digitString = (min: number, max: number) => fc.array(fc.constantFrom(...'0123456789'), { minLength: min, maxLength: max }).map((a) => a.join(''));
    const cards = fc.oneof(
      digitString(12, 20).map(luhnValid),
      digitString(11, 21),
      fc.tuple(fc.constantFrom(...'0123456789'), fc.integer({ min: 13, max: 19 })).map(([d, n]) => d.repeat(n)),
      // One repeated digit but for the check digit: a card unless the check digit is that digit too.
      fc.tuple(fc.constantFrom(...'0123456789'), fc.integer({ min: 12, max: 18 })).map(([d, n]) => luhnValid(d.repeat(n))),
      fc.tuple(digitString(12, 18).map(luhnValid), fc.constantFrom(' ', '-', '.', 'x')).map(([d, sep]) => d.replace(/(\d{4})(?=\d)/g, `$1${sep}`)),
      fc.tuple(digitString(12, 18).map(luhnValid), fc.integer({ min: 0, max: 18 }), fc.constantFrom(' ', '-', '/', 'é')).map(([d, at, x]) => d.slice(0, at) + x + d.slice(at)),
    );
    const ssns = fc.oneof(
      fc.tuple(digitString(3, 3), digitString(2, 2), digitString(4, 4), fc.constantFrom('-', ' '), fc.constantFrom('-', ' ', '.')).map(([a, g, n, s1, s2]) => `${a}${s1}${g}${s2}${n}`),
      fc.tuple(fc.constantFrom('000', '666', '900', '999', '899', '001', '665', '667'), fc.constantFrom('00', '01', '99'), fc.constantFrom('0000', '0001', '9999')).map(([a, g, n]) => `${a}-${g}-${n}`),
      fc.string({ unit: fc.constantFrom(...'0123456789- x'), minLength: 11, maxLength: 11 }),
    );
    const check = (kind: DetectorKind, value: string) => {
      const buf = Buffer.from(`..${value}..`);
      const end = buf.length - 2;
      const spans: number[] = [];
      scanValue(Buffer.from(value), 0, end - 2, kindSet([kind]), (k, s, e) => spans.push(k, s, e));
      const whole = spans.length === 3 && spans[1] === 0 && spans[2] === end - 2;
      expect(wholeMatch(detectorId[kind], buf, 2, end)).toBe(!whole ? NOT_WHOLE : Buffer.from(value).every((b) => b < 0x80) ? WHOLE_ASCII : WHOLE);
    };
    const label = fc.oneof(
      fc.string({ unit: fc.constantFrom(...'abcXYZ019-'), minLength: 0, maxLength: 6 }),
      fc.constantFrom('a'.repeat(63), 'b'.repeat(64), 'io', 'c0m', 'x', '-x', 'x-'),
    );
    const emails = fc
      .tuple(
        fc.oneof(fc.string({ unit: fc.constantFrom(...'aZ09._%+-é@ '), minLength: 0, maxLength: 8 }), fc.constantFrom('j'.repeat(64), 'j'.repeat(65), 'zoë', '.jane', 'jane.')),
        fc.array(label, { minLength: 1, maxLength: 4 }),
        fc.constantFrom('', '.', '..', ' ', '@x.io'),
        fc.constantFrom('.', '..'),
        fc.constantFrom('@', '@', '@', ' ', '#'),
      )
      .map(([local, labels, tail, joiner, at]) => `${local}${at}${labels.join(joiner === '..' && labels.length > 2 ? '..' : '.')}${tail}`);
    fc.assert(fc.property(emails, (v) => check('email', v)), { numRuns: 20000 });
    fc.assert(fc.property(cards, (v) => check('credit_card', v)), { numRuns: 20000 });
    fc.assert(fc.property(ssns, (v) => check('us_ssn', v)), { numRuns: 20000 });
  });

  it('confirms whole values of the kind the last value was, and scans the rest', () => {
    const m = masker([...detectorKinds]);
    const column = ['jane@x.io', 'o.brien42@mail.example.org', 'not an address', 'zoë@x.io', 'a@b@x.io', 'x@y.io and more'];
    expect(column.map((v) => scanned(m, v, 0).text)).toEqual(['<email>', '<email>', undefined, '<email>', 'a@<email>', '<email> and more']);
    const cards = ['4111 1111 1111 1111', '4111-1111-1111-1111', '4111111111111112', '5555555555554444', '123-45-6789', '4111111111111111 '];
    expect(cards.map((v) => scanned(m, v, 1).text)).toEqual(['<credit_card>', '<credit_card>', undefined, '<credit_card>', '<us_ssn>', '<credit_card> ']);
    // A leading space or dash is not part of the card: matchCard alone would take it for a separator.
    const padded = ['4111 1111 1111 1111', ' 4111 1111 1111 1111', '-4111111111111111', '4111111111111111'];
    expect(padded.map((v) => scanned(m, v, 2).text)).toEqual(['<credit_card>', ' <credit_card>', '-<credit_card>', '<credit_card>']);
    expect(wholeMatch(detectorId.credit_card, Buffer.from(' 4111 1111 1111 1111'), 0, 20)).toBe(NOT_WHOLE);
    expect(wholeMatch(detectorId.credit_card, Buffer.from('-4111111111111111'), 0, 17)).toBe(NOT_WHOLE);
    expect(wholeMatch(detectorId.us_ssn, Buffer.from('666-45-6789'), 0, 11)).toBe(NOT_WHOLE);
    expect(wholeMatch(detectorId.email, Buffer.from('jane@x.io.'), 0, 10)).toBe(NOT_WHOLE);
    const zoe = Buffer.from('zoë@x.io');
    expect(wholeMatch(detectorId.email, zoe, 0, zoe.length)).toBe(WHOLE);
    expect(wholeMatch(detectorId.email, Buffer.from('jane@x.io'), 0, 9)).toBe(WHOLE_ASCII);
    expect(wholeMatch(detectorId.credit_card, Buffer.from('4111-1111-1111-1111'), 0, 19)).toBe(WHOLE_ASCII);
    expect(wholeMatch(detectorId.us_ssn, Buffer.from('123 45 6789'), 0, 11)).toBe(WHOLE_ASCII);
  });
});
