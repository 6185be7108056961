// What every row rewriter offers (PostgreSQL DataRow, COPY rows, MySQL rows): size the new message, then
// write it in one allocation.

/** Masks one row message: `prepare` returns the size of the message to send instead (-1: keep it), `emit` writes it. */
export interface RowMasker {
  prepare(buf: Buffer, start: number, end: number): number;
  emit(out: Buffer, pos: number): number;
  /**
   * When every masked column writes in place (column rules on text values), the row can be masked in one
   * pass straight into an output with room for its length plus `maxGrowth`: `maskInto` returns the
   * position after the frame. -1 when the masker cannot (detector scans, binary values read as text).
   */
  readonly maxGrowth: number;
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
