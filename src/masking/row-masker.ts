// What every row rewriter offers (PostgreSQL DataRow, COPY rows, MySQL rows): size the new message, then
// write it in one allocation.

/** Masks one row message: `prepare` returns the size of the message to send instead (-1: keep it), `emit` writes it. */
export interface RowMasker {
  prepare(buf: Buffer, start: number, end: number): number;
  emit(out: Buffer, pos: number): number;
  /**
   * Room beyond a row's own length to offer `maskInto`, which masks the row in one pass straight into out
   * at pos and returns the position after it, or -1 when the row did not fit (nothing counted: size it with
   * prepare/emit instead). Rows always fit when every masked column writes in place with a bounded growth
   * (column rules on text values); detector matches usually do. -1: the masker has no `maskInto`.
   */
  readonly slack: number;
  maskInto(buf: Buffer, start: number, end: number, out: Buffer, pos: number): number;
}

/** A row message through a RowMasker: the same view when nothing changed, else one new buffer. */
export function maskMessage(masker: RowMasker, buf: Buffer, start: number, end: number): Buffer {
  const size = masker.prepare(buf, start, end);
  if (size < 0) return buf.subarray(start, end);
  const out = Buffer.allocUnsafe(size);
  masker.emit(out, 0);
  return out;
}
