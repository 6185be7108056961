// rules/masking.yaml (DESIGN.md "Rules (contract)") compiled once into MaskingRules, which turns a result
// set's columns into a MaskPlan. Errors name the file, the YAML line and the key.
//
// Matching, in the order the file lists the column rules (first match wins):
// - `column`: a plain name matches case-insensitively; "/regex/flags" is tested against the name. Both the
//   column's original name (MySQL org_name, a resolved PostgreSQL attribute) and the name the client sees
//   (an alias) are tried: `SELECT ssn AS x` and `SELECT x AS ssn` are both masked.
// - `table`: "schema.table" or "table" (any schema), case-insensitive, or "/regex/" tested against
//   "schema.table" (just "table" when the schema is unknown). A column whose table is unknown (an
//   expression, or PostgreSQL without a catalog) is matched on its name alone: when in doubt, mask.
// - Text-like columns no column rule masks are scanned by the `detect` detectors.
// - `exempt`: a session whose user, database and application match all the keys of one entry gets nothing
//   masked. Exemptions loosen masking, so their plain strings match exactly (case-sensitive).
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { compileSizedStrategy, compileStrategy, StrategyError, defaultHashLength, type MaskFn, type Strategy, type StrategyOptions, type StrategySpec } from './strategies.js';
import { detectorKinds, type DetectorKind } from './detectors.js';
import { MaskPlan, SpanMasker, type ColumnStep, type DetectorStep } from './plan.js';
import type { ResultColumn } from '../session/hooks.js';
import { keyPath, lineOf } from '../yaml-errors.js';

export class MaskingRulesError extends Error {
  override name = 'MaskingRulesError';
}

/** A result column as planFor needs it; `textLike` (see masking/types.ts) decides whether detectors scan it. */
export type MaskColumn = Pick<ResultColumn, 'name' | 'schema' | 'table' | 'originalName' | 'view'> & { textLike: boolean };

/** Who runs the query: SessionInfo fits. */
export interface MaskIdentity {
  user?: string;
  database?: string;
  application?: string;
}

export type LoadOptions = StrategyOptions;

export const maskingRulesFile = 'masking.yaml';

interface Pattern {
  source: string;
  test(value: string): boolean;
}

// ---- schema ----

const REGEX = /^\/(.+)\/([a-z]*)$/s;

/** zod's message for a missing or mistyped string, in the words of this file's other errors. */
const stringError = (what: string) => ({
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'required' : `expected ${what}, got ${JSON.stringify(issue.input)}`),
});

function pattern(caseSensitive: boolean) {
  return z.string(stringError('a name or /regex/')).min(1, 'expected a name or /regex/').transform((text, ctx): Pattern => {
    const m = REGEX.exec(text);
    if (!m) {
      const want = caseSensitive ? text : text.toLowerCase();
      return { source: text, test: caseSensitive ? (v) => v === want : (v) => v.toLowerCase() === want };
    }
    if (/[gy]/.test(m[2]!)) {
      ctx.addIssue({ code: 'custom', message: `regex flags g and y are not allowed, got ${JSON.stringify(text)}` });
      return z.NEVER;
    }
    try {
      const re = new RegExp(m[1]!, m[2]);
      return { source: text, test: (v) => re.test(v) };
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `invalid regex: ${(err as Error).message}` });
      return z.NEVER;
    }
  });
}

interface TablePattern {
  source: string;
  test(schema: string | undefined, table: string): boolean;
}

const tablePattern = z.string(stringError('schema.table, table or /regex/')).min(1, 'expected schema.table, table or /regex/').transform((text, ctx): TablePattern => {
  if (REGEX.test(text)) {
    const p = pattern(false).safeParse(text);
    if (!p.success) {
      for (const issue of p.error.issues) ctx.addIssue({ code: 'custom', message: issue.message });
      return z.NEVER;
    }
    return { source: text, test: (schema, table) => p.data.test(schema ? `${schema}.${table}` : table) };
  }
  const dot = text.indexOf('.');
  const wantSchema = dot > 0 ? text.slice(0, dot).toLowerCase() : undefined;
  const wantTable = (dot > 0 ? text.slice(dot + 1) : text).toLowerCase();
  return {
    source: text,
    test: (schema, table) =>
      table.toLowerCase() === wantTable && (wantSchema === undefined || schema === undefined || schema === '' || schema.toLowerCase() === wantSchema),
  };
});

const strategyNames = 'redact, partial, email, hash, null or fixed';

/** `mask:` in its short (`redact`) or long (`{ partial: { keepLast: 4 } }`) form. */
const strategy = z.unknown().transform((v, ctx): StrategySpec => {
  const fail = (message: string, at: (string | number)[] = []) => {
    ctx.addIssue({ code: 'custom', message, path: at });
    return z.NEVER;
  };
  if (v === undefined) return fail(`required: ${strategyNames}`);
  if (v === null || v === 'null') return { kind: 'null' };
  if (v === 'redact' || v === 'email') return { kind: v };
  if (v === 'hash') return { kind: 'hash', length: defaultHashLength };
  if (v === 'partial') return fail('partial needs what to keep, e.g. { partial: { keepLast: 4 } }');
  if (v === 'fixed') return fail('fixed needs its replacement, e.g. { fixed: "n/a" }');
  if (typeof v !== 'object' || Array.isArray(v)) return fail(`expected ${strategyNames}, got ${JSON.stringify(v)}`);
  const keys = Object.keys(v);
  if (keys.length !== 1) return fail(`expected one strategy, got keys ${keys.join(', ') || '(none)'}`);
  const key = keys[0]!;
  const arg = (v as Record<string, unknown>)[key];
  const count = (name: string, value: unknown, max: number) => {
    if (value === undefined) return 0;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
      fail(`expected a whole number 0..${max}, got ${JSON.stringify(value)}`, [key, name]);
      return 0;
    }
    return value;
  };
  switch (key) {
    case 'partial': {
      if (typeof arg !== 'object' || arg === null || Array.isArray(arg)) return fail('expected { keepFirst: N, keepLast: N }', [key]);
      const a = arg as Record<string, unknown>;
      for (const k of Object.keys(a)) if (k !== 'keepFirst' && k !== 'keepLast') return fail(`unknown key; expected keepFirst or keepLast`, [key, k]);
      if (a.keepFirst === undefined && a.keepLast === undefined) return fail('expected keepFirst, keepLast or both', [key]);
      return { kind: 'partial', keepFirst: count('keepFirst', a.keepFirst, 1000), keepLast: count('keepLast', a.keepLast, 1000) };
    }
    case 'fixed':
      if (typeof arg !== 'string') return fail(`expected the replacement string, got ${JSON.stringify(arg)}`, [key]);
      return { kind: 'fixed', value: arg };
    case 'hash': {
      if (arg === null || arg === undefined) return { kind: 'hash', length: defaultHashLength };
      if (typeof arg !== 'object' || Array.isArray(arg)) return fail('expected { length: N }', [key]);
      const a = arg as Record<string, unknown>;
      for (const k of Object.keys(a)) if (k !== 'length') return fail('unknown key; expected length', [key, k]);
      const length = a.length === undefined ? defaultHashLength : count('length', a.length, 64);
      if (length < 1) return fail('expected a length of 1..64 hex characters', [key, 'length']);
      return { kind: 'hash', length };
    }
    default:
      return fail(`unknown strategy; expected ${strategyNames}`, [key]);
  }
});

const kind = z.enum(detectorKinds, { error: (i) => `unknown detector ${JSON.stringify(i.input)}; expected one of ${detectorKinds.join(', ')}` });

const schema = z.strictObject({
  columns: z
    .array(
      z.strictObject({
        name: z.string(stringError('a rule name')).min(1).optional(),
        match: z.strictObject({ column: pattern(false), table: tablePattern.optional() }),
        mask: strategy,
      }),
    )
    .default([]),
  detect: z
    .array(
      z.strictObject({
        name: z.string(stringError('a rule name')).min(1).optional(),
        kind: z.preprocess((k) => (typeof k === 'string' ? [k] : k), z.array(kind).min(1, 'expected a detector or a list of them')),
        mask: strategy,
      }),
    )
    .default([]),
  exempt: z
    .array(
      z
        .strictObject({ user: pattern(true).optional(), database: pattern(true).optional(), application: pattern(true).optional() })
        .refine((e) => e.user || e.database || e.application, 'expected user, database or application'),
    )
    .default([]),
});

// ---- compiled rules ----

interface ColumnRule {
  name: string;
  column: Pattern;
  table?: TablePattern;
  strategy: StrategySpec;
  fn: MaskFn;
  sized: Strategy;
}

interface DetectorRule extends DetectorStep {
  sized: Strategy;
}

type Exemption = Partial<Record<keyof MaskIdentity, Pattern>>;

export class MaskingRules {
  /** No rules: nothing is ever masked. */
  static readonly none = new MaskingRules([], [], [], 'no masking rules');

  constructor(
    private readonly columnRules: readonly ColumnRule[],
    private readonly detectors: readonly DetectorRule[],
    private readonly exemptions: readonly Exemption[],
    /** Where the rules came from, for log lines. */
    readonly source: string,
  ) {}

  /** No column rule and no detector: nothing is ever masked (a result needs no plan). */
  get isEmpty(): boolean {
    return this.columnRules.length === 0 && this.detectors.length === 0;
  }

  get counts(): { columns: number; detectors: number; exemptions: number } {
    return { columns: this.columnRules.length, detectors: this.detectors.length, exemptions: this.exemptions.length };
  }

  isExempt(who: MaskIdentity): boolean {
    return this.exemptions.some((e) => (Object.keys(e) as (keyof MaskIdentity)[]).every((k) => who[k] !== undefined && e[k]!.test(who[k]!)));
  }

  /**
   * Plans by what decides them (the columns, and whether the asker is exempt): results of the same query
   * shape share one. A plan holds no state of a result's, only scratch space used within one call.
   */
  private readonly plans = new Map<string, MaskPlan>();

  /** The plan for one result set; then `plan.maskCell` per value. */
  planFor(columns: readonly MaskColumn[], who: MaskIdentity): MaskPlan {
    const exempt = this.isExempt(who);
    const key = planKey(columns, exempt);
    let plan = this.plans.get(key);
    if (plan) return plan;
    plan = this.newPlan(columns, exempt);
    // Bounded: a workload of endlessly new result shapes costs a rebuild, never memory.
    if (this.plans.size >= maxPlans) this.plans.clear();
    this.plans.set(key, plan);
    return plan;
  }

  private newPlan(columns: readonly MaskColumn[], exempt: boolean): MaskPlan {
    const fns: (MaskFn | undefined)[] = [];
    const strategies: (Strategy | undefined)[] = [];
    const steps: ColumnStep[] = columns.map((col, i) => {
      if (exempt) return null;
      const rule = this.columnRuleFor(col);
      if (rule) {
        fns[i] = rule.fn;
        strategies[i] = rule.sized;
        return { rule: rule.name, strategy: rule.strategy };
      }
      return col.textLike && this.detectors.length > 0 ? { scan: true } : null;
    });
    const scans = steps.some((s) => s !== null && 'scan' in s);
    const detectors = scans ? this.detectors.map(({ kind, rule, strategy }) => ({ kind, rule, strategy })) : [];
    return new MaskPlan({ columns: steps, detectors }, fns, scans ? new SpanMasker(this.detectors) : null, strategies);
  }

  private columnRuleFor(col: MaskColumn): ColumnRule | undefined {
    const original = col.originalName || undefined;
    const view = col.view;
    for (const rule of this.columnRules) {
      const byName = rule.column.test(col.name);
      // A view column shows a base table's column: the rules of the column and of the view's column apply.
      if ((byName || (original !== undefined && rule.column.test(original))) && !(rule.table && col.table && !rule.table.test(col.schema || undefined, col.table))) return rule;
      if (view && (byName || rule.column.test(view.column)) && !(rule.table && !rule.table.test(view.schema || undefined, view.table))) return rule;
    }
    return undefined;
  }
}


/** Most plans MaskingRules keeps. */
const maxPlans = 1024;

/**
 * Every field of the columns that planFor reads, each behind its length: names come from the client (aliases
 * may hold any character), so no separator could keep two different column lists from one key.
 */
function planKey(columns: readonly MaskColumn[], exempt: boolean): string {
  let key = exempt ? 'x' : 'm';
  const field = (text: string | undefined) => (text === undefined ? '-' : `${text.length}:${text}`);
  for (const c of columns) {
    const v = c.view;
    key += `${c.textLike ? 't' : 'b'}${field(c.name)}${field(c.schema)}${field(c.table)}${field(c.originalName)}`;
    key += v ? `v${field(v.schema)}${field(v.table)}${field(v.column)}` : '.';
  }
  return key;
}

/** Compiles the text of a masking.yaml. `source` names it in errors (a path). */
export function parseMaskingRules(text: string, source: string, opts: LoadOptions = {}): MaskingRules {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  if (doc.errors.length > 0) throw new MaskingRulesError(`${source}: not valid YAML: ${doc.errors[0]!.message}`);
  const problems: string[] = [];
  const problem = (at: readonly PropertyKey[], message: string) => {
    const line = lineOf(doc, lines, at);
    problems.push(`${source}${line ? `:${line}` : ''}: ${keyPath(at)}: ${message}`);
  };
  const parsed = schema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const at = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
      problem(at, issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message);
    }
    throw new MaskingRulesError(problems.join('\n'));
  }
  const data = parsed.data;
  /** Both forms of a strategy; a bad one is reported and stands in as `null` (the rules are refused anyway). */
  const compile = (spec: StrategySpec, at: PropertyKey[]): { fn: MaskFn; sized: Strategy } => {
    try {
      return { fn: compileStrategy(spec, opts), sized: compileSizedStrategy(spec, opts) };
    } catch (err) {
      if (!(err instanceof StrategyError)) throw err;
      problem(at, err.message);
      return { fn: () => null, sized: compileSizedStrategy({ kind: 'null' }) };
    }
  };
  const columns: ColumnRule[] = data.columns.map((c, i) => ({
    name: c.name ?? (c.match.table ? `${c.match.table.source}.${c.match.column.source}` : c.match.column.source),
    column: c.match.column,
    ...(c.match.table ? { table: c.match.table } : {}),
    strategy: c.mask,
    ...compile(c.mask, ['columns', i, 'mask']),
  }));
  const detectors: DetectorRule[] = [];
  const seen = new Map<DetectorKind, number>();
  data.detect.forEach((d, i) => {
    const { sized } = compile(d.mask, ['detect', i, 'mask']);
    for (const k of d.kind) {
      const earlier = seen.get(k);
      if (earlier !== undefined) problem(['detect', i, 'kind'], `detector ${k} is already configured in detect[${earlier}]`);
      seen.set(k, i);
      detectors.push({ kind: k, rule: d.name ?? k, strategy: d.mask, sized });
    }
  });
  if (problems.length > 0) throw new MaskingRulesError(problems.join('\n'));
  return new MaskingRules(columns, detectors, data.exempt, source);
}

/** Reads DIR/masking.yaml. A missing file is an error: an empty file means "mask nothing". */
export function loadMaskingRules(dir: string, opts: LoadOptions = {}): MaskingRules {
  const file = path.join(dir, maskingRulesFile);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new MaskingRulesError(`${file}: cannot read: ${(err as Error).message}`);
  }
  return parseMaskingRules(text, file, opts);
}

/** What the watcher logs with: a pino logger fits. */
export interface RulesLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Holds the current MaskingRules of a rules folder and replaces them when masking.yaml changes (fs.watch on
 * the folder, so editors that save by rename are seen) or on `reload()` (SIGHUP). The swap is one reference
 * assignment: a result set keeps the plan it started with. An invalid file is logged and the old rules stay.
 */
export class MaskingRulesWatcher {
  private rules: MaskingRules;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** Loads the rules now; throws MaskingRulesError when they are invalid (startup must not go on without them). */
  constructor(
    readonly dir: string,
    private readonly opts: LoadOptions & { log: RulesLog; onReload?: (rules: MaskingRules) => void; debounceMs?: number },
  ) {
    this.rules = loadMaskingRules(dir, opts);
  }

  get current(): MaskingRules {
    return this.rules;
  }

  /** Re-reads masking.yaml; true when the new rules are in force, false when they were invalid. */
  reload(): boolean {
    let next: MaskingRules;
    try {
      next = loadMaskingRules(this.dir, this.opts);
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message }, 'masking rules not reloaded: keeping the previous ones');
      return false;
    }
    this.rules = next;
    this.opts.log.info({ source: next.source, ...next.counts }, 'masking rules reloaded');
    this.opts.onReload?.(next);
    return true;
  }

  /** Starts watching the folder. */
  watch(): this {
    if (this.watcher) return this;
    this.watcher = watch(this.dir, { persistent: false }, (_event, file) => {
      if (file !== null && file !== maskingRulesFile) return;
      // One save is often several events (truncate, write, rename): reload once they settle.
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.reload(), this.opts.debounceMs ?? 100);
    });
    this.watcher.on('error', (err) => this.opts.log.error({ err: err.message, dir: this.dir }, 'masking rules watch failed'));
    return this;
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }
}
