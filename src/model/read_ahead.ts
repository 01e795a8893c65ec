// One-ahead reading of a load's tensors. While tensor k is decoded and uploaded
// (synchronous JavaScript and GPU calls on the main thread), tensor k+1's bytes
// are already being read (Node: libuv's thread pool; browser: the Blob reader),
// so a load costs about max(read, process) per tensor instead of their sum.
// Reads go into a small pool of grow-only buffers reused across tensors: a fresh
// buffer per tensor costs its first-touch page faults and GC work, which on the
// 2-core bench machine measured about as much as the read itself.
// Host memory: the current tensor's bytes and the next's (a third buffer only if
// the load asks for tensors out of the announced order).
import type { ModelTensor } from '../io/loaded_model.ts';

interface Pending {
  buf: Uint8Array;
  bytes: Promise<Uint8Array>;
}

export class ReadAhead {
  private readonly free: Uint8Array[] = [];
  private readonly pending = new Map<ModelTensor, Pending>();
  private readonly done = new Set<ModelTensor>();
  private current: Uint8Array | null = null;
  /** Largest tensor so far: new buffers get this size, so after the first large tensor none is reallocated. */
  private cap = 0;

  /** `order`: the tensors whose raw bytes the load will ask for, in that order. */
  constructor(private readonly order: readonly ModelTensor[]) {}

  /**
   * t's raw bytes, valid until the next call (their buffer is then reused), and
   * the read of the tensor after t in the order started.
   */
  async raw(t: ModelTensor): Promise<Uint8Array> {
    if (this.current) this.free.push(this.current);
    const p = this.pending.get(t) ?? this.start(t);
    this.pending.delete(t);
    this.current = p.buf;
    this.done.add(t);
    const i = this.order.indexOf(t);
    const next = i < 0 ? undefined : this.order[i + 1];
    if (next && !this.done.has(next) && !this.pending.has(next)) this.pending.set(next, this.start(next));
    return p.bytes;
  }

  /** A view of t whose readRaw() goes through this read-ahead (everything else is t's). */
  wrap(t: ModelTensor): ModelTensor {
    return Object.assign(Object.create(t) as ModelTensor, { readRaw: () => this.raw(t) });
  }

  private start(t: ModelTensor): Pending {
    const buf = this.take(t.bytes);
    const bytes = t.readRaw(buf);
    bytes.catch(() => {}); // a read nobody asks for again must not surface as an unhandled rejection; raw() rethrows it
    return { buf, bytes };
  }

  /** A free buffer of at least n bytes, else a new one of the largest size so far (replacing a too-small free one). */
  private take(n: number): Uint8Array {
    this.cap = Math.max(this.cap, n);
    const i = this.free.findIndex((b) => b.length >= n);
    if (i >= 0) return this.free.splice(i, 1)[0];
    this.free.shift();
    return new Uint8Array(this.cap);
  }
}
