// PostgreSQL: libpg-query (the server's own grammar, PostgreSQL 17) parses; this file maps each parse
// tree to a category. Statement kinds not listed here are `unknown`: a new node type fails closed.
import { loadModule, parseSync } from 'libpg-query';
import { lexPostgres } from './pg-lexer.js';
import { fingerprintOf, maskRange, normalize, tokenAt, type Token } from './tokens.js';
import { fromTemplate, makeTemplate, shapeKey, statementBytes, type ShapeTemplate } from './shapes.js';
import type { LruCache } from './cache.js';
import { stricter, type Category, type PostgresContext, type Statement } from './types.js';

let loaded = false;

/** libpg-query is WebAssembly: load it once before the first classify (startup, or the CLI command). */
export async function loadPostgresParser(): Promise<void> {
  await loadModule();
  loaded = true;
}

type Json = Record<string, unknown>;
type Verdict = { category: Category; kind: string; reason?: string };

const ddlNodes = new Set([
  'CreateStmt', 'CreateTableAsStmt', 'ViewStmt', 'IndexStmt', 'AlterTableStmt', 'AlterTableMoveAllStmt',
  'AlterTableSpaceOptionsStmt', 'DropStmt', 'TruncateStmt', 'RenameStmt', 'CommentStmt', 'SecLabelStmt',
  'CreateSeqStmt', 'AlterSeqStmt', 'CreateSchemaStmt', 'CreateFunctionStmt', 'AlterFunctionStmt',
  'CreateTrigStmt', 'CreateEventTrigStmt', 'AlterEventTrigStmt', 'CreateExtensionStmt', 'AlterExtensionStmt',
  'AlterExtensionContentsStmt', 'CreateDomainStmt', 'AlterDomainStmt', 'CompositeTypeStmt', 'CreateEnumStmt',
  'AlterEnumStmt', 'CreateRangeStmt', 'DefineStmt', 'CreateCastStmt', 'CreateConversionStmt',
  'CreateOpClassStmt', 'CreateOpFamilyStmt', 'AlterOpFamilyStmt', 'AlterOperatorStmt', 'AlterTypeStmt',
  'CreatePolicyStmt', 'AlterPolicyStmt', 'RuleStmt', 'CreateFdwStmt', 'AlterFdwStmt',
  'CreateForeignServerStmt', 'AlterForeignServerStmt', 'CreateForeignTableStmt', 'CreateUserMappingStmt',
  'AlterUserMappingStmt', 'DropUserMappingStmt', 'ImportForeignSchemaStmt', 'CreateTableSpaceStmt',
  'DropTableSpaceStmt', 'AlterObjectSchemaStmt', 'AlterObjectDependsStmt', 'CreatePublicationStmt',
  'AlterPublicationStmt', 'CreateSubscriptionStmt', 'AlterSubscriptionStmt', 'DropSubscriptionStmt',
  'CreateStatsStmt', 'AlterStatsStmt', 'CreateAmStmt', 'CreateTransformStmt', 'CreatePLangStmt',
  'AlterCollationStmt', 'AlterDatabaseStmt', 'AlterDatabaseSetStmt', 'AlterDatabaseRefreshCollStmt',
  'CreatedbStmt', 'DropdbStmt', 'AlterTSDictionaryStmt', 'AlterTSConfigurationStmt', 'ReindexStmt',
  'ClusterStmt', 'VacuumStmt', 'RefreshMatViewStmt', 'DropOwnedStmt',
]);
const grantNodes = new Set([
  'GrantStmt', 'GrantRoleStmt', 'AlterDefaultPrivilegesStmt', 'CreateRoleStmt', 'AlterRoleStmt',
  'AlterRoleSetStmt', 'DropRoleStmt', 'ReassignOwnedStmt', 'AlterOwnerStmt',
]);
const sessionNodes = new Set([
  'VariableShowStmt', 'ListenStmt', 'UnlistenStmt', 'NotifyStmt', 'DiscardStmt', 'DeallocateStmt',
  'ClosePortalStmt', 'ConstraintsSetStmt',
]);
/** Procedural or administrative: what they run is not in the text (DO, CALL, EXECUTE) or is the server itself. */
const unknownNodes = new Set(['DoStmt', 'CallStmt', 'ExecuteStmt', 'PrepareStmt', 'CheckPointStmt', 'AlterSystemStmt', 'LoadStmt']);

const kindNames: Record<string, string> = {
  SelectStmt: 'select', InsertStmt: 'insert', UpdateStmt: 'update', DeleteStmt: 'delete', MergeStmt: 'merge',
  CopyStmt: 'copy', CreateStmt: 'create table', IndexStmt: 'create index', ViewStmt: 'create view',
  CreatedbStmt: 'create database', DropdbStmt: 'drop database', DefineStmt: 'create', CreateTrigStmt: 'create trigger',
  CreateSeqStmt: 'create sequence', RuleStmt: 'create rule', FetchStmt: 'fetch', DoStmt: 'do', CallStmt: 'call',
  ExecuteStmt: 'execute', PrepareStmt: 'prepare', VariableShowStmt: 'show', DeclareCursorStmt: 'declare cursor',
  ClosePortalStmt: 'close', CheckPointStmt: 'checkpoint', LoadStmt: 'load', CreatePLangStmt: 'create language',
  ConstraintsSetStmt: 'set constraints', VacuumStmt: 'vacuum', ExplainStmt: 'explain', LockStmt: 'lock',
};

function kindOf(node: string): string {
  return kindNames[node] ?? node.replace(/Stmt$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}

/** Functions that reach the file system, large objects or other servers: export wherever they appear. */
const exportFunctions = new Set([
  'pg_read_file', 'pg_read_binary_file', 'pg_ls_dir', 'pg_stat_file', 'pg_logdir_ls', 'loread', 'lowrite',
]);
const exportPrefixes = ['lo_', 'dblink', 'pg_file_', 'pg_ls_'];
/** Functions that change the server for everyone, or run SQL given as a string: unknown. */
const unknownFunctions = new Set([
  'pg_terminate_backend', 'pg_cancel_backend', 'pg_signal_backend', 'pg_reload_conf', 'pg_rotate_logfile',
  'pg_promote', 'pg_switch_wal', 'pg_switch_xlog', 'pg_backup_start', 'pg_backup_stop', 'pg_start_backup',
  'pg_stop_backup', 'pg_log_backend_memory_contexts', 'pg_wal_replay_pause', 'pg_wal_replay_resume',
  'pg_xlog_replay_pause', 'pg_xlog_replay_resume', 'pg_replication_slot_advance', 'pg_import_system_collations',
  'pg_sync_replication_slots', 'query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema', 'ts_stat',
]);
const unknownPrefixes = ['pg_create_', 'pg_drop_', 'pg_copy_', 'pg_replication_origin_', 'pg_logical_', 'pg_stat_reset'];
/** Functions that a read-only transaction refuses. */
const writeFunctions = new Set(['nextval', 'setval']);
const sessionFunctions = new Set(['pg_notify']);
const sessionPrefixes = ['pg_advisory', 'pg_try_advisory'];

function functionVerdict(name: string, call: Json): Verdict | undefined {
  const reason = `calls ${name}`;
  if (exportFunctions.has(name) || exportPrefixes.some((p) => name.startsWith(p))) return { category: 'export', kind: name, reason };
  if (unknownFunctions.has(name) || unknownPrefixes.some((p) => name.startsWith(p))) return { category: 'unknown', kind: name, reason };
  if (writeFunctions.has(name)) return { category: 'write', kind: name, reason };
  if (sessionFunctions.has(name) || sessionPrefixes.some((p) => name.startsWith(p))) return { category: 'session', kind: name, reason };
  if (name === 'set_config') {
    // set_config('role', ...) is SET ROLE; a name that is not a constant could be anything.
    const args = call.args as Json[] | undefined;
    const setting = stringConst(args?.[0]);
    if (setting === undefined) return { category: 'unknown', kind: name, reason: 'set_config of a computed setting name' };
    const lower = setting.toLowerCase();
    if (lower === 'role' || lower === 'session_authorization') return { category: 'grant', kind: name, reason: `set_config('${lower}')` };
    return { category: 'session', kind: name, reason };
  }
  return undefined;
}

/** Counts the literal values read while classifying: a result that read one holds for that text only. */
let literalReads = 0;

function stringConst(node: unknown): string | undefined {
  literalReads++;
  const c = (node as Json | undefined)?.A_Const as Json | undefined;
  const sval = c?.sval as Json | undefined;
  return typeof sval?.sval === 'string' ? sval.sval : undefined;
}

interface Walk {
  verdict?: Verdict;
  dml: boolean;
  locking: boolean;
  objects: string[];
  ctes: Set<string>;
}

function raise(w: Walk, v: Verdict): void {
  if (!w.verdict || stricter(w.verdict.category, v.category) !== w.verdict.category) w.verdict = v;
}

/** Visits every node of the tree: subqueries, CTEs, function arguments, DEFAULTs, everything. */
function walk(v: unknown, w: Walk): void {
  if (Array.isArray(v)) {
    for (const x of v) walk(x, w);
    return;
  }
  if (v === null || typeof v !== 'object') return;
  const o = v as Json;
  if (typeof o.relname === 'string') {
    // A RangeVar, wrapped or not.
    const name = typeof o.schemaname === 'string' ? `${o.schemaname}.${o.relname}` : o.relname;
    if (!w.objects.includes(name)) w.objects.push(name);
  }
  for (const k in o) {
    const child = o[k];
    switch (k) {
      case 'FuncCall': {
        const names = (child as Json).funcname as Json[];
        const last = names[names.length - 1]?.String as Json | undefined;
        if (typeof last?.sval === 'string') {
          const fv = functionVerdict(last.sval.toLowerCase(), child as Json);
          if (fv) raise(w, fv);
        }
        break;
      }
      case 'InsertStmt':
      case 'UpdateStmt':
      case 'DeleteStmt':
      case 'MergeStmt':
        w.dml = true;
        break;
      case 'LockingClause':
        w.locking = true;
        break;
      case 'CommonTableExpr':
        w.ctes.add(String((child as Json).ctename));
        break;
      case 'AlterTableCmd':
        if ((child as Json).subtype === 'AT_ChangeOwner') raise(w, { category: 'grant', kind: 'alter owner', reason: 'changes an owner' });
        break;
    }
    walk(child, w);
  }
}

/** The statement's own category, before what the walk of its tree adds. */
function baseVerdict(node: string, body: Json): Verdict {
  switch (node) {
    case 'SelectStmt':
      if (body.intoClause) return { category: 'ddl', kind: 'select into' };
      return { category: 'read', kind: 'select' };
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt':
      return { category: 'write', kind: kindOf(node) };
    case 'CopyStmt':
      return {
        category: 'export',
        kind: body.is_program ? 'copy program' : body.is_from ? 'copy from' : 'copy to',
      };
    case 'ExplainStmt': {
      const options = (body.options as Json[] | undefined) ?? [];
      const analyze = options.some((o) => ((o.DefElem as Json | undefined)?.defname as string | undefined) === 'analyze');
      if (!analyze) return { category: 'read', kind: 'explain' };
      const inner = classifyNode(body.query as Json);
      return { ...inner, kind: `explain analyze ${inner.kind}` };
    }
    case 'DeclareCursorStmt': {
      const inner = classifyNode(body.query as Json);
      return { ...inner, kind: `declare cursor ${inner.kind}` };
    }
    case 'FetchStmt':
      return { category: 'read', kind: body.ismove ? 'move' : 'fetch' };
    case 'VariableSetStmt': {
      const name = String(body.name ?? '').toLowerCase();
      const reset = body.kind === 'VAR_RESET' || body.kind === 'VAR_RESET_ALL';
      const kind = body.kind === 'VAR_RESET_ALL' ? 'reset all' : `${reset ? 'reset' : 'set'} ${name}`;
      // Changing the effective role changes every privilege check that follows.
      if (name === 'role' || name === 'session_authorization') return { category: 'grant', kind };
      return { category: 'session', kind };
    }
    case 'TransactionStmt': {
      const k = String(body.kind).replace('TRANS_STMT_', '').toLowerCase().replace('_', ' ');
      // COMMIT PREPARED may commit writes made by any session.
      return { category: k === 'commit prepared' || k === 'rollback prepared' ? 'write' : 'session', kind: k };
    }
    case 'LockStmt':
      // ACCESS SHARE (mode 1) is what a plain SELECT takes; anything stronger blocks writers.
      return { category: body.mode === 1 ? 'read' : 'write', kind: 'lock' };
    case 'DropStmt':
      return { category: 'ddl', kind: `drop ${String(body.removeType).replace('OBJECT_', '').toLowerCase().replace('_', ' ')}` };
  }
  if (ddlNodes.has(node)) return { category: 'ddl', kind: kindOf(node) };
  if (grantNodes.has(node)) return { category: 'grant', kind: kindOf(node) };
  if (sessionNodes.has(node)) return { category: 'session', kind: kindOf(node) };
  if (unknownNodes.has(node)) return { category: 'unknown', kind: kindOf(node), reason: 'runs code the text does not show' };
  return { category: 'unknown', kind: kindOf(node), reason: `statement type ${node} is not classified` };
}

function classifyNode(stmt: Json): Verdict & { objects: string[] } {
  const node = Object.keys(stmt)[0]!;
  const body = stmt[node] as Json;
  const base = baseVerdict(node, body);
  const w: Walk = { dml: false, locking: false, objects: [], ctes: new Set() };
  walk(body, w);
  let v = base;
  if (node === 'SelectStmt' && base.category === 'read') {
    if (w.dml) v = { category: 'write', kind: 'select', reason: 'data-modifying WITH' };
    else if (w.locking) v = { category: 'write', kind: 'select for update', reason: 'locking read' };
  }
  if (w.verdict && stricter(v.category, w.verdict.category) !== v.category) v = { ...v, category: w.verdict.category, reason: w.verdict.reason };
  if (node === 'DropStmt') {
    for (const o of (body.objects as Json[] | undefined) ?? []) {
      const items = (o.List as Json | undefined)?.items as Json[] | undefined;
      if (!items) continue;
      const name = items.map((i) => String((i.String as Json | undefined)?.sval)).join('.');
      if (!w.objects.includes(name)) w.objects.push(name);
    }
  }
  const objects = w.objects.filter((o) => o.includes('.') || !w.ctes.has(o));
  return { ...v, objects };
}

/** Client encodings whose multibyte characters never contain an ASCII byte (so never a quote or backslash). */
const safeEncodings = new Set([
  'utf8', 'unicode', 'sqlascii', 'latin1', 'latin2', 'latin3', 'latin4', 'latin5', 'latin6', 'latin7',
  'latin8', 'latin9', 'latin10', 'iso88595', 'iso88596', 'iso88597', 'iso88598', 'win866', 'win874',
  'win1250', 'win1251', 'win1252', 'win1253', 'win1254', 'win1255', 'win1256', 'win1257', 'win1258',
  'koi8r', 'koi8u', 'eucjp', 'euccn', 'euckr', 'euctw', 'eucjis2004', 'muleinternal',
]);

const isBlank = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);

function whole(sql: string, tokens: Token[], kind: string, reason: string): Statement[] {
  const text = sql.trim();
  return [
    {
      category: 'unknown',
      kind,
      text,
      masked: maskRange(sql, tokens, 0, tokens.length, sql.indexOf(text), sql.indexOf(text) + text.length),
      fingerprint: fingerprintOf('postgres', normalize(sql, tokens, 0, tokens.length, true)),
      objects: [],
      reason,
    },
  ];
}

/** Where classifyPostgres keeps and finds results by shape (shapes.ts); `prefix` names the context. */
export interface PgShapes {
  cache: LruCache<ShapeTemplate>;
  prefix: string;
  /**
   * Set by classifyPostgres: false when a shape answered for a text other than the one it answered last. A
   * client that inlines its values sends a new text each call: kept by exact text too, each would evict an
   * entry that does repeat (a parameterized statement's), and its shape answers for it in a lex anyway.
   */
  keepExact?: boolean;
}

export function classifyPostgres(sql: string, ctx: PostgresContext, shapes?: PgShapes): Statement[] {
  if (!loaded) throw new Error('classify: the PostgreSQL parser is not loaded; await loadClassifier() first');
  const lex = lexPostgres(sql);
  if (lex.tokens.length === 0) return [];
  if (ctx.standardConformingStrings === false && lex.backslashInPlainString) {
    return whole(sql, lex.tokens, 'unparsed', 'backslash in a string while standard_conforming_strings is off');
  }
  if (lex.nonAscii && !safeEncodings.has((ctx.clientEncoding ?? 'UTF8').toLowerCase().replace(/[^a-z0-9]/g, ''))) {
    return whole(sql, lex.tokens, 'unparsed', `non-ASCII text in client_encoding ${ctx.clientEncoding}`);
  }
  const shape = shapes && shapeKey(sql, lex.tokens);
  const key = shape === undefined ? undefined : shapes!.prefix + shape;
  if (key !== undefined) {
    const known = shapes!.cache.get(key);
    if (known) {
      shapes!.keepExact = known.lastText === sql;
      known.lastText = sql;
      return fromTemplate(known, sql, lex.tokens);
    }
  }
  let tree: { stmts?: Json[] };
  try {
    tree = parseSync(sql) as { stmts?: Json[] };
  } catch (e) {
    return whole(sql, lex.tokens, 'unparsed', `parse error: ${(e as Error).message}`);
  }
  const readsBefore = literalReads;
  const stmts = tree.stmts ?? [];
  // stmt_location/stmt_len count UTF-8 bytes: map them back to string offsets.
  const bytes = /[^\x00-\x7f]/.test(sql) ? Buffer.from(sql, 'utf8') : undefined;
  const toChar = (byteOffset: number) => (bytes ? bytes.toString('utf8', 0, byteOffset).length : byteOffset);
  const out: Statement[] = [];
  const ranges: number[] = [];
  for (const raw of stmts) {
    const loc = (raw.stmt_location as number | undefined) ?? 0;
    const len = raw.stmt_len as number | undefined;
    let start = toChar(loc);
    let end = len ? toChar(loc + len) : sql.length;
    while (start < end && isBlank(sql.charCodeAt(start))) start++;
    while (end > start && isBlank(sql.charCodeAt(end - 1))) end--;
    const from = tokenAt(lex.tokens, start);
    const to = tokenAt(lex.tokens, end);
    const v = classifyNode(raw.stmt as Json);
    const st: Statement = {
      category: v.category,
      kind: v.kind,
      text: sql.slice(start, end),
      masked: maskRange(sql, lex.tokens, from, to, start, end),
      fingerprint: fingerprintOf('postgres', normalize(sql, lex.tokens, from, to, true)),
      objects: v.objects,
    };
    if (v.reason) st.reason = v.reason;
    out.push(st);
    ranges.push(start, end);
  }
  if (key !== undefined && literalReads === readsBefore) shapes!.cache.set(key, makeTemplate(sql, lex.tokens, out, ranges), 2 * key.length + 16 * ranges.length + statementBytes(out));
  return out;
}
