// A bounds-checked little-endian cursor over a window of a GGUF header. Every
// length is compared with the bytes left in the *file* before anything is
// allocated (a hostile count fails with a GgufError); a read past the *window*
// throws NeedMore so the staged reader can fetch a larger slice and resume the
// current item. Positions are absolute file offsets.
import { GgufError, UnsupportedError } from '../../base/errors.ts';

/** Internal signal: the window ends before `end`; never escapes readGguf. */
export class NeedMore {
  constructor(readonly end: number) {}
}

// ignoreBOM keeps a leading U+FEFF (real vocabularies have it as a token) instead of stripping it.
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

export class HeaderCursor {
  private buf: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(this.buf.buffer);
  private base = 0;
  pos = 0;
  /** What is being parsed ("key \"general.name\"", "tensor \"blk.0.attn_q.weight\""); prefixes errors. */
  ctx = '';

  constructor(
    readonly file: string,
    readonly size: number,
  ) {}

  setWindow(buf: Uint8Array, base: number): void {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.base = base;
  }

  fail(detail: string): never {
    throw new GgufError(this.file, this.ctx ? `${this.ctx}: ${detail}` : detail);
  }

  /** A well-formed file in a variant sub4 does not read (old version, big-endian). */
  unsupported(detail: string): never {
    throw new UnsupportedError(this.file, detail);
  }

  /** Bytes between the cursor and the end of the file. */
  left(): number {
    return this.size - this.pos;
  }

  /** Make n bytes at the cursor readable, or fail naming what needed them. */
  need(n: number, what: string): void {
    if (n > this.size - this.pos)
      this.fail(`${what} needs ${n} bytes at offset ${this.pos}, but the file ends at ${this.size} (truncated or corrupt)`);
    if (this.pos + n > this.base + this.buf.length) throw new NeedMore(this.pos + n);
  }

  private at(n: number, what: string): number {
    this.need(n, what);
    const o = this.pos - this.base;
    this.pos += n;
    return o;
  }

  u8(what: string): number {
    return this.buf[this.at(1, what)];
  }
  i8(what: string): number {
    return this.view.getInt8(this.at(1, what));
  }
  u16(what: string): number {
    return this.view.getUint16(this.at(2, what), true);
  }
  i16(what: string): number {
    return this.view.getInt16(this.at(2, what), true);
  }
  u32(what: string): number {
    return this.view.getUint32(this.at(4, what), true);
  }
  i32(what: string): number {
    return this.view.getInt32(this.at(4, what), true);
  }
  f32(what: string): number {
    return this.view.getFloat32(this.at(4, what), true);
  }
  f64(what: string): number {
    return this.view.getFloat64(this.at(8, what), true);
  }
  u64(what: string): bigint {
    return this.view.getBigUint64(this.at(8, what), true);
  }
  i64(what: string): bigint {
    return this.view.getBigInt64(this.at(8, what), true);
  }

  /** A u64 that must be a safe integer (counts, lengths, offsets). */
  u64Num(what: string): number {
    const v = this.u64(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} is ${v}, larger than any file`);
    return Number(v);
  }

  /** Copy n bytes into a fresh, 8-aligned buffer (typed arrays need aligned storage). */
  copy(n: number, what: string): Uint8Array {
    const o = this.at(n, what);
    return this.buf.slice(o, o + n);
  }

  /** u64 length + UTF-8 bytes; the length is checked against the file before decoding. maxBytes: optional cap.
   *  Invalid UTF-8 decodes to U+FFFD rather than failing, so such a string would not be rewritten byte for byte. */
  string(what: string, maxBytes = Infinity): string {
    const n = this.u64Num(`${what} length`);
    if (n >= maxBytes) this.fail(`${what} is ${n} bytes long; the limit is ${maxBytes - 1}`);
    if (n > this.left()) this.fail(`${what} claims ${n} bytes, but only ${this.left()} remain in the file`);
    const o = this.at(n, what);
    return utf8.decode(this.buf.subarray(o, o + n));
  }
}
