// rules/policy.yaml -> Policy, validated once at start (zod). Errors name the file, the YAML line and the key:
//   rules/policy.yaml:7: rules[1].when.category[0]: unknown category "dll"; expected one of read, write, ...
//
// API:
//   parsePolicy(text, source) -> Policy        (throws PolicyError)
//   loadPolicy(dir)           -> Policy        reads DIR/policy.yaml; a missing file is an error
//
// The file (DESIGN.md "Rules (contract)"):
//   rules:                       ordered, first match wins
//     - name: ...                optional; shown instead of the conditions in the console and `classify`
//       when: {...}              every key given must match; no `when` matches every statement
//       action: allow|hold|deny
//   default: allow|hold|deny     when no rule matches (default: allow)
//
// `when` keys:
//   category                     one category or a list
//   user, database, application, listener
//                                one or a list of: an exact, case-sensitive name, or "/regex/flags"
//   client                       one or a list of CIDR blocks or addresses: 10.0.0.0/8, ::1/128, 192.168.1.7
//   table                        one or a list of: "schema.table", "table" (any schema) or "/regex/flags" tested
//                                against the name as the statement gives it (schema.table when qualified).
//                                Fail closed: a hold or deny rule matches when ANY table of the statement
//                                matches (case-insensitive; an unqualified table matches any schema), an allow
//                                rule only when EVERY table does (case-sensitive; the schema must be named when
//                                the pattern names one), and never a statement naming no table.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import type { Category } from '../classify/types.js';
import { cidrContains, parseCidr, type Cidr } from './cidr.js';
import { Policy, type Action, type CompiledRule, type MatchInput, type PolicyIdentity } from './policy.js';
import { keyPath, lineOf } from '../yaml-errors.js';

export class PolicyError extends Error {
  override name = 'PolicyError';
}

export const policyRulesFile = 'policy.yaml';

// ---- matchers ----

const REGEX = /^\/(.+)\/([a-z]*)$/s;

interface Pattern {
  source: string;
  /** Compiled regex, or undefined for an exact name. */
  regex?: RegExp;
}

const stringError = (what: string) => ({
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'required' : `expected ${what}, got ${JSON.stringify(issue.input)}`),
});

/** A scalar or a list of them, as a list; errors on the scalar form then point at the key itself. */
const oneOrMany = <T extends z.ZodType>(item: T, what: string) =>
  z.preprocess((v) => (Array.isArray(v) ? v : [v]), z.array(item).min(1, `expected ${what} or a list of them`));

const pattern = z
  .string(stringError('a name or /regex/'))
  .min(1, 'expected a name or /regex/')
  .transform((text, ctx): Pattern => {
    const m = REGEX.exec(text);
    if (!m) return { source: text };
    // g and y make RegExp.test stateful: the same name would match every other time.
    if (/[gy]/.test(m[2]!)) {
      ctx.addIssue({ code: 'custom', message: `regex flags g and y are not allowed, got ${JSON.stringify(text)}` });
      return z.NEVER;
    }
    try {
      return { source: text, regex: new RegExp(m[1]!, m[2]) };
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `invalid regex: ${(err as Error).message}` });
      return z.NEVER;
    }
  });

const cidr = z.string(stringError('a CIDR block like 10.0.0.0/8')).transform((text, ctx): Cidr => {
  const c = parseCidr(text.trim());
  if (typeof c === 'string') {
    ctx.addIssue({ code: 'custom', message: c });
    return z.NEVER;
  }
  return c;
});

const categoryNames = ['read', 'write', 'ddl', 'export', 'grant', 'session', 'unknown'] as const satisfies readonly Category[];

const category = z.enum(categoryNames, {
  error: (i) => `unknown category ${JSON.stringify(i.input)}; expected one of ${categoryNames.join(', ')}`,
});

const action = z.enum(['allow', 'hold', 'deny'], {
  error: (i) => (i.input === undefined ? 'required: allow, hold or deny' : `expected allow, hold or deny, got ${JSON.stringify(i.input)}`),
});

const when = z.strictObject({
  category: oneOrMany(category, 'a category').optional(),
  user: oneOrMany(pattern, 'a name or /regex/').optional(),
  database: oneOrMany(pattern, 'a name or /regex/').optional(),
  application: oneOrMany(pattern, 'a name or /regex/').optional(),
  listener: oneOrMany(pattern, 'a name or /regex/').optional(),
  client: oneOrMany(cidr, 'a CIDR block').optional(),
  table: oneOrMany(pattern, 'schema.table, table or /regex/').optional(),
});

const schema = z.strictObject({
  rules: z
    .array(
      z.strictObject({
        name: z.string(stringError('a rule name')).min(1).optional(),
        when: z.preprocess((v) => v ?? {}, when),
        action,
      }),
    )
    .nullish()
    .transform((v) => v ?? []),
  default: action.default('allow'),
});

type When = z.output<typeof when>;

// ---- compiling ----

function identityCondition(key: keyof PolicyIdentity, patterns: Pattern[]): (input: MatchInput) => boolean {
  return ({ identity }) => {
    const value = identity[key];
    if (value === undefined) return false;
    for (const p of patterns) if (p.regex ? p.regex.test(value) : p.source === value) return true;
    return false;
  };
}

/** schema and table of "a.b.c" (the last two parts); schema undefined when unqualified. */
function splitName(name: string): [string | undefined, string] {
  const dot = name.lastIndexOf('.');
  if (dot < 0) return [undefined, name];
  const before = name.slice(0, dot);
  return [before.slice(before.lastIndexOf('.') + 1), name.slice(dot + 1)];
}

/** See the header: `inclusive` (hold, deny) reads every doubt as a match, strict (allow) as none. */
function tableMatches(p: Pattern, object: string, inclusive: boolean): boolean {
  if (p.regex) return p.regex.test(object);
  const [wantSchema, wantTable] = splitName(p.source);
  const [schema, table] = splitName(object);
  if (inclusive) {
    return (
      table.toLowerCase() === wantTable.toLowerCase() &&
      (wantSchema === undefined || schema === undefined || schema.toLowerCase() === wantSchema.toLowerCase())
    );
  }
  return table === wantTable && (wantSchema === undefined || schema === wantSchema);
}

function tableCondition(patterns: Pattern[], act: Action): (input: MatchInput) => boolean {
  if (act === 'allow') {
    return ({ statement: { objects } }) => objects.length > 0 && objects.every((o) => patterns.some((p) => tableMatches(p, o, false)));
  }
  return ({ statement: { objects } }) => objects.some((o) => patterns.some((p) => tableMatches(p, o, true)));
}

function conditionsOf(w: When, act: Action): CompiledRule['conditions'] {
  const out: CompiledRule['conditions'][number][] = [];
  if (w.category) {
    const set = new Set<Category>(w.category);
    out.push(({ statement }) => set.has(statement.category));
  }
  for (const key of ['user', 'database', 'application', 'listener'] as const) {
    const patterns = w[key];
    if (patterns) out.push(identityCondition(key, patterns));
  }
  if (w.client) {
    const blocks = w.client;
    out.push(({ clientIp }) => clientIp !== undefined && blocks.some((b) => cidrContains(b, clientIp)));
  }
  if (w.table) out.push(tableCondition(w.table, act));
  return out;
}

/** "category: [ddl, export], user: /^agent-/" */
function describeWhen(w: When): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(w) as [string, (string | Pattern | Cidr)[] | undefined][]) {
    if (!value) continue;
    const texts = value.map((v) => (typeof v === 'string' ? v : v.source));
    parts.push(`${key}: ${texts.length === 1 ? texts[0] : `[${texts.join(', ')}]`}`);
  }
  return parts.length ? parts.join(', ') : 'any statement';
}

// ---- errors with lines ----


/** A scalar written where a list may be (`user: bob`) is item 0 to zod; name the key, not `user[0]`. */
function displayPath(doc: Document, at: readonly PropertyKey[]): readonly PropertyKey[] {
  if (at.length > 0 && at[at.length - 1] === 0 && isScalar(doc.getIn(at.slice(0, -1) as (string | number)[], true))) return at.slice(0, -1);
  return at;
}

export function parsePolicy(text: string, source: string): Policy {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  if (doc.errors.length > 0) throw new PolicyError(`${source}: not valid YAML: ${doc.errors[0]!.message}`);
  const parsed = schema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const at = displayPath(doc, issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path);
      const line = lineOf(doc, lines, at);
      return `${source}${line ? `:${line}` : ''}: ${keyPath(at)}: ${issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message}`;
    });
    throw new PolicyError(problems.join('\n'));
  }
  const rules: CompiledRule[] = parsed.data.rules.map((r, index) => ({
    ref: Object.freeze({ index, line: lineOf(doc, lines, ['rules', index]) ?? 0, description: r.name ?? describeWhen(r.when) }),
    action: r.action,
    conditions: Object.freeze(conditionsOf(r.when, r.action)),
  }));
  return new Policy(Object.freeze(rules), parsed.data.default, source);
}

/** Reads DIR/policy.yaml. A missing file is an error: "no rules" must be written down, not assumed. */
export function loadPolicy(dir: string): Policy {
  const file = path.join(dir, policyRulesFile);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PolicyError(`${file}: cannot read: ${(err as Error).message}`);
  }
  return parsePolicy(text, file);
}
