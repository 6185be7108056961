// masking.yaml compilation (names, regexes, tables, detectors, exemptions, errors with key and line) and the
// plans it makes for result sets.
import { describe, expect, it } from 'vitest';
import { MaskingRules, MaskingRulesError, parseMaskingRules, type MaskColumn } from '../../../src/masking/rules.js';
import { compilePlan, type MaskPlan } from '../../../src/masking/plan.js';
import { kindsOf } from '../../../src/masking/detectors.js';

const rules = (yaml: string, hashKey?: string) => parseMaskingRules(yaml, 'masking.yaml', { hashKey });
const col = (name: string, more: Partial<MaskColumn> = {}): MaskColumn => ({ name, textLike: true, ...more });
const alice = { user: 'alice', database: 'app', application: 'psql' };

/** Masks one value of column `i` as the row stage would; '<keep>' when the value stays as it is. */
function cell(plan: MaskPlan, i: number, value: string): string | null {
  const buf = Buffer.from(`[${value}]`);
  const out = plan.maskCell(i, buf, 1, buf.length - 1);
  return out === undefined ? '<keep>' : out === null ? null : out.toString();
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MaskingRulesError);
    return (err as Error).message;
  }
  throw new Error('expected a MaskingRulesError');
}

describe('column rules', () => {
  const r = rules(`
columns:
  - match: { column: email }
    mask: email
  - match: { table: public.customers, column: ssn }
    mask: { partial: { keepLast: 4 } }
  - match: { table: orders, column: note }
    mask: { fixed: "[note]" }
  - match: { column: "/password|secret|token/i" }
    mask: redact
  - name: hashed-id
    match: { table: "/^crm\\\\./", column: customer_id }
    mask: hash
`, 'key');

  it('matches a plain name case-insensitively', () => {
    const plan = r.planFor([col('id', { textLike: false }), col('EMail')], alice);
    expect(plan.spec.columns).toEqual([null, { rule: 'email', strategy: { kind: 'email' } }]);
    expect(cell(plan, 1, 'jane@x.io')).toBe('j***@x.io');
  });
  it('keeps one plan per column list, and never lends one to a list that differs in any field', () => {
    const ssn = col('x', { schema: 'public', table: 'customers', originalName: 'ssn' });
    const first = r.planFor([col('id', { textLike: false }), ssn], alice);
    expect(r.planFor([col('id', { textLike: false }), { ...ssn }], alice)).toBe(first);
    expect(r.planFor([col('id', { textLike: false }), { ...ssn }], { user: 'bob' })).toBe(first);
    // Aliases are the client's: one that spells out another list's fields still gets its own plan.
    const forged = [col('id', { textLike: false }), col('x', { schema: 'public', table: 'customers' })];
    expect(r.planFor(forged, alice).spec.columns).toEqual([null, null]);
    expect(r.planFor([col('id', { textLike: false }), ssn], alice).ruleOf(1)).toBe('public.customers.ssn');
    for (const name of ['x1:public', 'x\u0001public\u0001customers\u0001ssn', '1:x6:public9:customers3:ssn']) {
      expect(r.planFor([col('id', { textLike: false }), col(name)], alice).ruleOf(1)).toBeUndefined();
    }
    expect(r.planFor([col('id'), ssn], alice)).not.toBe(first);
    expect(r.planFor([col('id', { textLike: false }), { ...ssn, view: { table: 'v', column: 'x' } }], alice)).not.toBe(first);
  });
  it('matches a regex', () => {
    const plan = r.planFor([col('reset_token'), col('Password_Hash'), col('tokenizer', { textLike: false })], alice);
    expect(plan.spec.columns.map((c) => c && 'rule' in c && c.rule)).toEqual(['/password|secret|token/i', '/password|secret|token/i', '/password|secret|token/i']);
  });
  it('matches schema.table.column and masks ssn when aliased', () => {
    const plan = r.planFor([col('x', { schema: 'public', table: 'customers', originalName: 'ssn' })], alice);
    expect(plan.ruleOf(0)).toBe('public.customers.ssn');
    expect(cell(plan, 0, '123-45-6789')).toBe('*******6789');
  });
  it('does not apply a table rule to the same column name in another table or schema', () => {
    const plan = r.planFor([col('ssn', { schema: 'public', table: 'employees' }), col('ssn', { schema: 'archive', table: 'customers' })], alice);
    expect(plan.spec.columns).toEqual([null, null]);
  });
  it('lets a table given without schema match in any schema', () => {
    const plan = r.planFor([col('note', { schema: 'sales', table: 'ORDERS' }), col('note', { table: 'orders' })], alice);
    expect(plan.ruleOf(0)).toBe('orders.note');
    expect(plan.ruleOf(1)).toBe('orders.note');
    expect(cell(plan, 0, 'call me')).toBe('[note]');
  });
  it('matches a table rule by name alone when the column has no known table', () => {
    const plan = r.planFor([col('ssn'), col('ssn', { table: '' })], alice);
    expect(plan.ruleOf(0)).toBe('public.customers.ssn');
    expect(plan.ruleOf(1)).toBe('public.customers.ssn');
  });
  it('applies to a view column the rules of the base column it shows and the rules of the view column', () => {
    const view = (table: string, column: string) => ({ view: { schema: 'public', table, column } });
    const plan = r.planFor(
      [
        // v.x shows customers.ssn: the customers.ssn rule applies under the view's name for it
        col('x', { schema: 'public', table: 'customers', originalName: 'ssn', ...view('v', 'x') }),
        // v_orders.remark shows sales.orders.id: no rule for that, but the view's column is `note` of `orders`
        col('remark', { schema: 'sales', table: 'orders', originalName: 'id', ...view('orders', 'note') }),
        // a view column named ssn showing employees.ssn: the customers rule is for another table
        col('ssn', { schema: 'public', table: 'employees', originalName: 'ssn', ...view('staff', 'ssn') }),
      ],
      alice,
    );
    expect([plan.ruleOf(0), plan.ruleOf(1), plan.ruleOf(2)]).toEqual(['public.customers.ssn', 'orders.note', undefined]);
  });
  it('tests a table regex against schema.table and uses the rule name', () => {
    const plan = r.planFor([col('customer_id', { schema: 'crm', table: 'people' }), col('customer_id', { schema: 'public', table: 'people' })], alice);
    expect(plan.ruleOf(0)).toBe('hashed-id');
    expect(plan.ruleOf(1)).toBeUndefined();
    expect(cell(plan, 0, '42')).toMatch(/^[0-9a-f]{16}$/);
  });
  it('uses the first matching rule', () => {
    const r2 = rules(`
columns:
  - match: { column: "/^e/" }
    mask: redact
  - match: { column: email }
    mask: email
`);
    expect(r2.planFor([col('email')], alice).ruleOf(0)).toBe('/^e/');
  });
});

describe('detectors in plans', () => {
  const r = rules(`
columns:
  - match: { column: email }
    mask: email
detect:
  - kind: credit_card
    mask: { partial: { keepLast: 4 } }
  - kind: [jwt, aws_access_key]
    mask: redact
  - kind: us_ssn
    mask: null
    name: ssn-detector
`);

  it('scans text-like columns no column rule masks, and only those', () => {
    const plan = r.planFor([col('email'), col('notes'), col('amount', { textLike: false })], alice);
    expect(plan.spec.columns).toEqual([{ rule: 'email', strategy: { kind: 'email' } }, { scan: true }, null]);
    expect(plan.spec.detectors.map((d) => [d.kind, d.rule])).toEqual([
      ['credit_card', 'credit_card'],
      ['jwt', 'jwt'],
      ['aws_access_key', 'aws_access_key'],
      ['us_ssn', 'ssn-detector'],
    ]);
    expect(plan.masks(2)).toBe(false);
    expect(plan.isEmpty).toBe(false);
  });
  it('masks only the matched spans and keeps the rest of the value', () => {
    const plan = r.planFor([col('notes')], alice);
    expect(cell(plan, 0, 'card 4111 1111 1111 1111, key AKIAIOSFODNN7EXAMPLE.')).toBe('card ***************1111, key ****.');
    expect(kindsOf(plan.lastDetected)).toEqual(['credit_card', 'aws_access_key']);
  });
  it('keeps a value without matches as it is', () => {
    const plan = r.planFor([col('notes')], alice);
    expect(cell(plan, 0, 'nothing to see, call 555-0100')).toBe('<keep>');
    expect(plan.lastDetected).toBe(0);
  });
  it('turns the whole value into NULL when a match uses the null strategy', () => {
    const plan = r.planFor([col('notes')], alice);
    expect(cell(plan, 0, 'ssn 123-45-6789 on file')).toBeNull();
  });
  it('makes an empty plan when nothing needs masking', () => {
    expect(r.planFor([col('id', { textLike: false }), col('amount', { textLike: false })], alice).isEmpty).toBe(true);
    expect(rules('columns: []').planFor([col('notes')], alice).isEmpty).toBe(true);
    expect(MaskingRules.none.planFor([col('email')], alice).isEmpty).toBe(true);
  });
  it('rebuilds the same plan from its plain-data form', () => {
    const plan = r.planFor([col('email'), col('notes')], alice);
    const copy = compilePlan(structuredClone(plan.spec));
    expect(copy.spec).toEqual(plan.spec);
    for (const [i, v] of [
      [0, 'jane@x.io'],
      [1, 'pay 4111111111111111 now'],
      [1, 'plain'],
    ] as const) {
      expect(cell(copy, i, v)).toBe(cell(plan, i, v));
    }
  });
});

describe('exemptions', () => {
  const r = rules(`
columns:
  - match: { column: email }
    mask: email
exempt:
  - user: auditor
  - { user: "/^etl_/", application: nightly }
  - database: analytics_sandbox
`);
  const cols = [col('email')];
  it('masks nothing for an exempt user', () => {
    expect(r.planFor(cols, { user: 'auditor' }).isEmpty).toBe(true);
  });
  it('matches exempt names exactly, case-sensitively', () => {
    expect(r.planFor(cols, { user: 'Auditor' }).isEmpty).toBe(false);
    expect(r.planFor(cols, { user: 'auditor2' }).isEmpty).toBe(false);
  });
  it('needs every key of an entry to match', () => {
    expect(r.planFor(cols, { user: 'etl_load', application: 'nightly' }).isEmpty).toBe(true);
    expect(r.planFor(cols, { user: 'etl_load', application: 'psql' }).isEmpty).toBe(false);
    expect(r.planFor(cols, { user: 'etl_load' }).isEmpty).toBe(false);
  });
  it('exempts by database', () => {
    expect(r.planFor(cols, { user: 'bob', database: 'analytics_sandbox' }).isEmpty).toBe(true);
    expect(r.planFor(cols, alice).isEmpty).toBe(false);
  });
});

describe('invalid rules', () => {
  it('names the key and the line of a bad strategy', () => {
    const msg = errorOf(() =>
      rules(`columns:
  - match: { column: email }
    mask: email
  - match: { column: ssn }
    mask: { partial: { keepLast: -1 } }
`),
    );
    expect(msg).toBe('masking.yaml:5: columns[1].mask.partial.keepLast: expected a whole number 0..1000, got -1');
  });
  it('names an unknown strategy', () => {
    expect(errorOf(() => rules('columns:\n  - match: { column: a }\n    mask: scramble\n'))).toMatch(/^masking\.yaml:3: columns\[0\]\.mask: expected redact, partial, email, hash, null or fixed, got "scramble"/);
  });
  it('names a missing mask', () => {
    expect(errorOf(() => rules('columns:\n  - match: { column: a }\n'))).toMatch(/^masking\.yaml:2: columns\[0\]\.mask: required/);
  });
  it('names an invalid regex', () => {
    expect(errorOf(() => rules('columns:\n  - match:\n      column: "/(unclosed/"\n    mask: redact\n'))).toMatch(/^masking\.yaml:3: columns\[0\]\.match\.column: invalid regex/);
  });
  it('refuses stateful regex flags', () => {
    expect(errorOf(() => rules('columns:\n  - match: { column: "/x/g" }\n    mask: redact\n'))).toMatch(/flags g and y are not allowed/);
  });
  it('names an unknown key', () => {
    expect(errorOf(() => rules('columns:\n  - match: { colum: email }\n    mask: email\n')).split('\n')).toEqual([
      'masking.yaml:2: columns[0].match.column: required',
      'masking.yaml:2: columns[0].match.colum: unknown key',
    ]);
  });
  it('names an unknown detector', () => {
    expect(errorOf(() => rules('detect:\n  - kind: [email, passport]\n    mask: redact\n'))).toMatch(/^masking\.yaml:2: detect\[0\]\.kind\[1\]: unknown detector "passport"/);
  });
  it('refuses a detector configured twice', () => {
    expect(errorOf(() => rules('detect:\n  - kind: email\n    mask: email\n  - kind: [jwt, email]\n    mask: redact\n'))).toMatch(
      /^masking\.yaml:4: detect\[1\]\.kind: detector email is already configured in detect\[0\]/,
    );
  });
  it('needs masking.key for a hash strategy', () => {
    expect(errorOf(() => rules('columns:\n  - match: { column: id }\n    mask: hash\n'))).toMatch(/^masking\.yaml:3: columns\[0\]\.mask: hash needs a key \(config masking\.key\)/);
  });
  it('refuses an exemption without keys', () => {
    expect(errorOf(() => rules('exempt:\n  - {}\n'))).toMatch(/^masking\.yaml:2: exempt\[0\]: expected user, database or application/);
  });
  it('reports YAML syntax errors with their line', () => {
    expect(errorOf(() => rules('columns:\n  - match: { column: email\n    mask: email\n'))).toMatch(/^masking\.yaml: not valid YAML: .*line/s);
  });
  it('reports every problem at once', () => {
    const msg = errorOf(() => rules('columns:\n  - match: { column: a }\n    mask: nope\n  - match: { column: b }\n    mask: { fixed: 3 }\n'));
    expect(msg.split('\n')).toHaveLength(2);
  });
});

describe('strategy forms', () => {
  it.each([
    ['redact', { kind: 'redact' }],
    ['email', { kind: 'email' }],
    ['null', { kind: 'null' }],
    ['"null"', { kind: 'null' }],
    ['hash', { kind: 'hash', length: 16 }],
    ['{ hash: { length: 8 } }', { kind: 'hash', length: 8 }],
    ['{ partial: { keepFirst: 1 } }', { kind: 'partial', keepFirst: 1, keepLast: 0 }],
    ['{ fixed: "n/a" }', { kind: 'fixed', value: 'n/a' }],
  ])('accepts mask: %s', (yaml, spec) => {
    const plan = rules(`columns:\n  - match: { column: a }\n    mask: ${yaml}\n`, 'k').planFor([col('a')], alice);
    expect(plan.spec.columns[0]).toEqual({ rule: 'a', strategy: spec });
  });
  it('treats an empty file as no rules', () => {
    expect(rules('').counts).toEqual({ columns: 0, detectors: 0, exemptions: 0 });
  });
});

describe('plans and row shapes', () => {
  it('leaves a column past the described ones alone', () => {
    const plan = rules('detect:\n  - kind: email\n    mask: email\n').planFor([col('a')], alice);
    expect(cell(plan, 0, 'jane@x.io')).toBe('j***@x.io');
    expect(plan.masks(1)).toBe(false);
    expect(cell(plan, 1, 'jane@x.io')).toBe('<keep>');
  });
});
