// policy.yaml: matching on every `when` key, first match wins, the strictest action over a query's statements,
// and errors that name the file, the line and the key.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Category, Statement } from '../../../src/classify/types.js';
import { classify, loadClassifier, parseMysqlServerVersion } from '../../../src/classify/index.js';
import { packageRulesDir } from '../../../src/config.js';
import { loadPolicy, parsePolicy, PolicyError } from '../../../src/policy/load.js';
import { describeRule, type PolicyIdentity } from '../../../src/policy/policy.js';

const st = (category: Category, objects: string[] = [], text = `${category} statement`): Statement => ({
  category,
  kind: category,
  text,
  masked: text,
  fingerprint: `fp-${text}`,
  objects,
});
const alice: PolicyIdentity = { user: 'alice', database: 'app', application: 'psql', listener: 'pg', client: '10.1.2.3:50000' };
const policy = (yaml: string) => parsePolicy(yaml, 'policy.yaml');
const actionOf = (yaml: string, statement: Statement, who: PolicyIdentity = alice) => policy(yaml).decide([statement], who).action;

function errorOf(yaml: string): string {
  try {
    policy(yaml);
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    return (err as Error).message;
  }
  throw new Error('expected a PolicyError');
}

describe('matching', () => {
  it('takes the first rule that matches and reports it with its line', () => {
    const p = policy(`
rules:
  - when: { category: ddl, user: migrator, database: staging }
    action: allow
  - when: { category: [ddl, export, grant, unknown] }
    action: hold
  - when: { category: grant, user: "/^agent-/" }
    action: deny
default: allow
`);
    const migrator = { ...alice, user: 'migrator', database: 'staging' };
    expect(p.decide([st('ddl')], migrator)).toMatchObject({ action: 'allow', rule: { index: 0, line: 3, description: 'category: ddl, user: migrator, database: staging' } });
    expect(p.decide([st('ddl')], { ...migrator, database: 'prod' })).toMatchObject({ action: 'hold', rule: { index: 1, line: 5 } });
    // Rule 2 never fires for grants: rule 1 holds them first.
    expect(p.decide([st('grant')], { ...alice, user: 'agent-7' })).toMatchObject({ action: 'hold', rule: { index: 1 } });
    expect(p.decide([st('read')], alice)).toEqual({ action: 'allow', rule: null, statement: st('read') });
  });

  it('uses the default when nothing matches, and allow when there is no default', () => {
    expect(actionOf('rules: []\ndefault: hold', st('read'))).toBe('hold');
    expect(actionOf('rules: []', st('ddl'))).toBe('allow');
    expect(actionOf('', st('unknown'))).toBe('allow');
  });

  it('matches every statement with a rule without when', () => {
    expect(actionOf('rules:\n  - action: deny', st('read'))).toBe('deny');
    expect(actionOf('rules:\n  - when:\n    action: deny', st('read'))).toBe('deny');
  });

  it('matches user, database, application and listener exactly and case-sensitively', () => {
    const yaml = (key: string, value: string) => `rules:\n  - when: { ${key}: ${JSON.stringify(value)} }\n    action: deny`;
    expect(actionOf(yaml('user', 'alice'), st('read'))).toBe('deny');
    expect(actionOf(yaml('user', 'Alice'), st('read'))).toBe('allow');
    expect(actionOf(yaml('user', 'ali'), st('read'))).toBe('allow');
    expect(actionOf(yaml('database', 'app'), st('read'))).toBe('deny');
    expect(actionOf(yaml('application', 'psql'), st('read'))).toBe('deny');
    expect(actionOf(yaml('application', 'psql'), st('read'), { ...alice, application: undefined })).toBe('allow');
    expect(actionOf(yaml('listener', 'pg'), st('read'))).toBe('deny');
    expect(actionOf(yaml('listener', 'my'), st('read'))).toBe('allow');
  });

  it('matches /regex/flags and lists of names', () => {
    expect(actionOf('rules:\n  - when: { user: "/^agent-/" }\n    action: deny', st('read'), { user: 'agent-3' })).toBe('deny');
    expect(actionOf('rules:\n  - when: { user: "/^agent-/" }\n    action: deny', st('read'), { user: 'my-agent-3' })).toBe('allow');
    expect(actionOf('rules:\n  - when: { user: "/^AGENT-/i" }\n    action: deny', st('read'), { user: 'agent-3' })).toBe('deny');
    const list = 'rules:\n  - when: { user: [bob, "/^ci_/"] }\n    action: hold';
    expect(actionOf(list, st('read'), { user: 'bob' })).toBe('hold');
    expect(actionOf(list, st('read'), { user: 'ci_runner' })).toBe('hold');
    expect(actionOf(list, st('read'), { user: 'carol' })).toBe('allow');
  });

  it('matches the client address against IPv4 and IPv6 CIDR blocks', () => {
    const p = policy('rules:\n  - when: { client: [10.0.0.0/8, "::1/128"] }\n    action: allow\ndefault: deny');
    const at = (client: string | undefined) => p.decide([st('read')], { ...alice, client }).action;
    expect(at('10.1.2.3:50000')).toBe('allow');
    expect(at('::ffff:10.1.2.3:50000')).toBe('allow');
    expect(at('[::1]:50000')).toBe('allow');
    expect(at('::1:50000')).toBe('allow');
    expect(at('192.168.0.1:50000')).toBe('deny');
    expect(at('[::2]:50000')).toBe('deny');
    expect(at(undefined)).toBe('deny');
  });

  it('combines conditions: every key given must match', () => {
    const yaml = 'rules:\n  - when: { category: write, user: alice, client: 192.168.0.0/16 }\n    action: deny';
    expect(actionOf(yaml, st('write'), { ...alice, client: '192.168.4.4:1' })).toBe('deny');
    expect(actionOf(yaml, st('write'), alice)).toBe('allow');
    expect(actionOf(yaml, st('read'), { ...alice, client: '192.168.4.4:1' })).toBe('allow');
  });
});

describe('table conditions', () => {
  const hold = (table: string) => policy(`rules:\n  - when: { table: ${JSON.stringify(table)} }\n    action: hold`);
  const allow = (table: string) => policy(`rules:\n  - when: { table: ${JSON.stringify(table)} }\n    action: allow\ndefault: deny`);
  const on = (p: ReturnType<typeof policy>, ...objects: string[]) => p.decide([st('write', objects)], alice).action;

  it('matches schema.table and a bare name in any schema', () => {
    expect(on(hold('public.payments'), 'public.payments')).toBe('hold');
    expect(on(hold('public.payments'), 'archive.payments')).toBe('allow');
    expect(on(hold('payments'), 'archive.payments')).toBe('hold');
    expect(on(hold('payments'), 'payments')).toBe('hold');
    expect(on(hold('payments'), 'payment')).toBe('allow');
  });
  it('matches a /regex/ against the name as the statement gives it', () => {
    expect(on(hold('/^audit\\./'), 'audit.log')).toBe('hold');
    expect(on(hold('/^audit\\./'), 'log')).toBe('allow');
    expect(on(hold('/_secret$/i'), 'app.API_SECRET')).toBe('hold');
  });
  it('holds when any table matches, in doubt: unqualified names and other letter case', () => {
    expect(on(hold('public.payments'), 'orders', 'payments')).toBe('hold');
    expect(on(hold('public.payments'), 'Public.Payments')).toBe('hold');
    expect(on(hold('public.payments'), 'db.public.payments')).toBe('hold');
  });
  it('allows only when every table matches exactly', () => {
    expect(on(allow('staging.scratch'), 'staging.scratch')).toBe('allow');
    expect(on(allow('staging.scratch'), 'staging.scratch', 'public.customers')).toBe('deny');
    expect(on(allow('staging.scratch'), 'scratch')).toBe('deny');
    expect(on(allow('staging.scratch'), 'Staging.Scratch')).toBe('deny');
    expect(on(allow('scratch'), 'any.scratch')).toBe('allow');
  });
  it('never matches a statement that names no table', () => {
    expect(on(hold('payments'))).toBe('allow');
    expect(on(allow('payments'))).toBe('deny');
  });
});

describe('a query of several statements', () => {
  const p = policy(`
rules:
  - when: { category: grant }
    action: deny
  - when: { category: [ddl, export] }
    action: hold
`);
  it('takes the strictest action and reports the statement and rule that made it', () => {
    const drop = st('ddl', ['t'], 'DROP TABLE t');
    const d = p.decide([st('read'), drop, st('write')], alice);
    expect(d).toEqual({ action: 'hold', rule: { index: 1, line: 5, description: 'category: [ddl, export]' }, statement: drop });
  });
  it('reports the first statement when several share the strictest action', () => {
    const copy = st('export', [], 'COPY t TO STDOUT');
    expect(p.decide([copy, st('ddl')], alice).statement).toBe(copy);
  });
  it('lets deny win over hold wherever it comes', () => {
    const grant = st('grant', [], 'GRANT ALL ON t TO x');
    expect(p.decide([st('ddl'), grant, st('export')], alice)).toMatchObject({ action: 'deny', rule: { index: 0 }, statement: grant });
  });
  it('lets a stricter default beat an allow rule', () => {
    const q = policy('rules:\n  - when: { category: read }\n    action: allow\ndefault: hold');
    expect(q.decide([st('read'), st('write')], alice)).toMatchObject({ action: 'hold', rule: null, statement: { category: 'write' } });
  });
  it('allows a query with no statement', () => {
    expect(policy('default: deny').decide([], alice)).toEqual({ action: 'allow', rule: null, statement: null });
  });
});

describe('describeRule', () => {
  it('names the rule, its line and its conditions, or the default', () => {
    const p = policy('rules:\n  - name: no grants for agents\n    when: { category: grant, user: "/^agent-/" }\n    action: deny\n  - when: { client: [10.0.0.0/8, "::1"] }\n    action: hold');
    expect(describeRule(p.decide([st('grant')], { user: 'agent-1' }))).toBe('rules[0] (line 2: no grants for agents) -> deny');
    expect(describeRule(p.decide([st('read')], alice))).toBe('rules[1] (line 5: client: [10.0.0.0/8, ::1]) -> hold');
    expect(describeRule(p.decide([st('read')], {}))).toBe('default -> allow');
  });
});

describe('errors name the file, the line and the key', () => {
  it('an unknown category', () => {
    expect(errorOf('rules:\n  - when: { category: ddl }\n    action: hold\n  - when:\n      category: [read, dll]\n    action: hold')).toBe(
      'policy.yaml:5: rules[1].when.category[1]: unknown category "dll"; expected one of read, write, ddl, export, grant, session, unknown',
    );
  });
  it('a scalar where a list may be', () => {
    expect(errorOf('rules:\n  - when: { category: reed }\n    action: hold')).toMatch(/^policy\.yaml:2: rules\[0\]\.when\.category: unknown category "reed"/);
  });
  it('an unknown key in when, in a rule and at the top', () => {
    expect(errorOf('rules:\n  - when:\n      usr: bob\n    action: hold')).toBe('policy.yaml:3: rules[0].when.usr: unknown key');
    expect(errorOf('rules:\n  - when: { user: bob }\n    acton: hold\n    action: hold')).toBe('policy.yaml:3: rules[0].acton: unknown key');
    expect(errorOf('rule: []')).toBe('policy.yaml:1: rule: unknown key');
  });
  it('a missing or wrong action', () => {
    expect(errorOf('rules:\n  - when: { user: bob }')).toBe('policy.yaml:2: rules[0].action: required: allow, hold or deny');
    expect(errorOf('rules:\n  - when: { user: bob }\n    action: block')).toBe('policy.yaml:3: rules[0].action: expected allow, hold or deny, got "block"');
    expect(errorOf('default: permit')).toBe('policy.yaml:1: default: expected allow, hold or deny, got "permit"');
  });
  it('a bad regex, stateful regex flags and a bad CIDR block', () => {
    expect(errorOf('rules:\n  - when: { user: "/(/" }\n    action: deny')).toMatch(/^policy\.yaml:2: rules\[0\]\.when\.user: invalid regex: /);
    expect(errorOf('rules:\n  - when: { table: "/x/g" }\n    action: deny')).toBe('policy.yaml:2: rules[0].when.table: regex flags g and y are not allowed, got "/x/g"');
    expect(errorOf('rules:\n  - action: deny\n    when:\n      client:\n        - 10.0.0.0/8\n        - 10.0.0.0/33')).toBe(
      'policy.yaml:6: rules[0].when.client[1]: expected a prefix length 0..32 after "/", got "10.0.0.0/33"',
    );
  });
  it('a wrong type', () => {
    expect(errorOf('rules:\n  - when: { user: 42 }\n    action: deny')).toBe('policy.yaml:2: rules[0].when.user: expected a name or /regex/, got 42');
    expect(errorOf('rules: { when: {} }')).toMatch(/^policy\.yaml:1: rules: /);
  });
  it('every problem at once', () => {
    expect(errorOf('rules:\n  - when: { category: x }\n    action: hold\n  - action: nope').split('\n')).toHaveLength(2);
  });
  it('YAML that does not parse', () => {
    expect(errorOf('rules:\n  - when: { category: [ddl }\n')).toMatch(/^policy\.yaml: not valid YAML: .*line 2/s);
  });
  it('a missing file', () => {
    expect(() => loadPolicy('/nonexistent-dir')).toThrow(/\/nonexistent-dir\/policy\.yaml: cannot read: ENOENT/);
  });
});

describe('the shipped rules/policy.yaml', () => {
  const shipped = loadPolicy(packageRulesDir);
  it('holds ddl, export, grant and unknown and allows the rest', () => {
    expect(shipped.defaultAction).toBe('allow');
    const cats: Category[] = ['read', 'write', 'session', 'ddl', 'export', 'grant', 'unknown'];
    expect(cats.map((c) => shipped.decide([st(c)], alice).action)).toEqual(['allow', 'allow', 'allow', 'hold', 'hold', 'hold', 'hold']);
  });
  it('holds what the classifier reads as dangerous, in both dialects', async () => {
    await loadClassifier();
    const pg = (sql: string) => shipped.decide(classify(sql, { dialect: 'postgres' }), alice).action;
    const my = (sql: string) => shipped.decide(classify(sql, { dialect: 'mysql', ...parseMysqlServerVersion('8.0.36') }), alice).action;
    expect(pg('SELECT 1; DROP TABLE t')).toBe('hold');
    expect(pg('COPY t TO STDOUT')).toBe('hold');
    expect(pg('SELECT * FROM t WHERE id = 1')).toBe('allow');
    expect(pg('UPDATE t SET x = 1')).toBe('allow');
    expect(my('/*!50000 DROP TABLE t */')).toBe('hold');
    expect(my('SELECT * FROM t INTO OUTFILE "/tmp/x"')).toBe('hold');
    expect(my('SELECT 1')).toBe('allow');
  });
  it('keeps the file the package ships readable', () => {
    expect(readFileSync(path.join(packageRulesDir, 'policy.yaml'), 'utf8')).toMatch(/^default: allow$/m);
  });
});
