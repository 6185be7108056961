// What a session calls to mask a result (the row-stage hook, revised: see MaskedResultInfo). It turns the
// result's description into a MaskPlan under the current masking rules and the session's identity; a result
// with nothing to mask gets null and its rows pass as raw bytes. Otherwise it returns the ResultMasker that
// takes the rows, with the rewritten description to send instead of the server's.
import type { ResultColumn, ResultInfo, SessionInfo } from '../session/hooks.js';
import { decodeColumnDefinition } from '../wire/mysql/decode.js';
import { framePayload } from '../wire/mysql/frames.js';
import type { MaskingRules, MaskColumn } from './rules.js';
import type { MaskPlan } from './plan.js';
import { isMysqlTextType, isPostgresTextType } from './types.js';
import { maskErrorResponse, pgRowFormats, rewriteRowDescription } from './pg-rows.js';
import { copyCsv, copyText, type CopySyntax } from './pg-copy.js';
import { maskErrPacket, mysqlRowColumns, rewriteColumnDefinition } from './mysql-rows.js';
import type { MaskingStage, ResultMasker } from './stage.js';
import type { OrderedOutput } from './ordered-output.js';

/** ResultInfo plus the description's bytes, which the rewrite and the per-column formats need. */
export interface MaskedResultInfo extends ResultInfo {
  /**
   * PostgreSQL: [the RowDescription frame]. MySQL: [the column count packet, each column definition packet],
   * framed as received. Absent (a cursor's COM_STMT_FETCH, whose definitions went out with the execute):
   * the rows are masked by `columns` alone and no description is rewritten.
   */
  raw?: readonly Buffer[];
  /** MySQL: MariaDB extended metadata was agreed, so column definitions carry it. */
  extendedMetadata?: boolean;
}

export class MaskingRowStage {
  /** Per plan, the last RowDescription rewritten for it (see rewrittenDescription). */
  private readonly descriptions = new WeakMap<MaskPlan, { raw: Buffer; description: Buffer | null }>();

  constructor(
    /** The rules in force now (MaskingRulesWatcher#current): a result keeps the plan it started with. */
    private readonly rules: () => MaskingRules,
    private readonly stage: MaskingStage,
  ) {}

  /**
   * Nothing this session's results show is masked under the rules now (no rules, or the session is exempt):
   * the session skips describing its results (no catalog lookup, no plan) and their rows pass raw.
   */
  masksNothing(session: SessionInfo): boolean {
    const rules = this.rules();
    return rules.isEmpty || rules.isExempt(session);
  }

  /** Called once per result set, rows written through `out`; null: nothing to mask, the rows pass raw. */
  begin(info: MaskedResultInfo, out: OrderedOutput): ResultMasker | null {
    if (this.masksNothing(info.session)) return null;
    return info.session.protocol === 'postgres' ? this.beginPostgres(info, out) : this.beginMysql(info, out);
  }

  /**
   * COPY ... TO STDOUT in text or CSV format: `columns` are the copied columns in order (the session knows
   * them from the table or query it classified). Binary COPY carries no types: refuse it upstream instead.
   */
  beginCopy(session: SessionInfo, columns: readonly MaskColumn[], format: 'text' | 'csv' | CopySyntax, out: OrderedOutput): ResultMasker | null {
    const plan = this.rules().planFor(columns, session);
    if (plan.isEmpty) return null;
    const syntax = format === 'text' ? copyText : format === 'csv' ? copyCsv : format;
    return this.stage.open(plan, { kind: 'pg-copy', syntax }, out);
  }

  /**
   * An error with the values it quotes masked (same view when none): PostgreSQL, an ErrorResponse or
   * NoticeResponse frame; MySQL, an ERR packet's payload (without its 4-byte header).
   */
  maskError(buf: Buffer, start: number, end: number, session: SessionInfo): Buffer {
    return session.protocol === 'postgres' ? maskErrorResponse(buf, start, end, this.rules(), session) : maskErrPacket(buf, start, end, this.rules(), session);
  }

  private beginPostgres(info: MaskedResultInfo, out: OrderedOutput): ResultMasker | null {
    const columns = info.columns.map((c) => maskColumn(c, isPostgresTextType(c.type)));
    const plan = this.rules().planFor(columns, info.session);
    if (plan.isEmpty) return null;
    const masker = this.stage.open(plan, { kind: 'pg-datarow', formats: pgRowFormats(info.columns) }, out);
    const raw = info.raw?.[0];
    if (raw) {
      const description = this.rewrittenDescription(raw, plan);
      if (description) masker.description = description;
    }
    return masker;
  }

  /**
   * The RowDescription `raw` rewritten for `plan` (masked columns become text), or null when it stays as it is;
   * the last one made for a plan is kept, so results of the same query shape share it (it is only ever sent).
   */
  private rewrittenDescription(raw: Buffer, plan: MaskPlan): Buffer | null {
    const kept = this.descriptions.get(plan);
    if (kept && kept.raw.equals(raw)) return kept.description;
    const rewritten = rewriteRowDescription(raw, 0, raw.length, plan);
    const description = sameView(rewritten, raw, 0) ? null : rewritten;
    this.descriptions.set(plan, { raw: Buffer.from(raw), description });
    return description;
  }

  private beginMysql(info: MaskedResultInfo, out: OrderedOutput): ResultMasker | null {
    const raw = info.raw;
    // The session decoded the definitions already when its columns carry their character sets.
    const decoded = info.columns.every((c) => c.characterSet !== undefined);
    const defs = decoded ? undefined : raw?.slice(1).map((p) => decodeColumnDefinition(p, 4, p.length, info.extendedMetadata ?? false));
    const columns = info.columns.map((c, i) => maskColumn(c, isMysqlTextType(c.type, c.characterSet ?? defs?.[i]?.characterSet)));
    const plan = this.rules().planFor(columns, info.session);
    if (plan.isEmpty) return null;
    const rowColumns = mysqlRowColumns(defs ?? info.columns);
    const binary = info.columns[0]?.format === 1;
    const masker = this.stage.open(plan, { kind: binary ? 'mysql-binary' : 'mysql-text', columns: rowColumns }, out);
    if (raw) {
      let changed = false;
      const packets = raw.map((p, k) => {
        if (k === 0) return p;
        const payload = rewriteColumnDefinition(p, 4, p.length, plan, k - 1, info.extendedMetadata ?? false);
        if (sameView(payload, p, 4)) return p;
        changed = true;
        return framePayload(payload, p[3]!);
      });
      // The session renumbers the packets' sequence ids as it does for the originals.
      if (changed) masker.description = Buffer.concat(packets);
    }
    return masker;
  }
}

/** `out` is buf's own bytes from `start` (the codecs return a view when nothing changed), not a new buffer. */
function sameView(out: Buffer, buf: Buffer, start: number): boolean {
  return out.buffer === buf.buffer && out.byteOffset === buf.byteOffset + start;
}

export function maskColumn(c: ResultColumn, textLike: boolean): MaskColumn {
  return { name: c.name, schema: c.schema, table: c.table, originalName: c.originalName, ...(c.view ? { view: c.view } : {}), textLike };
}
