// The CPU quantizers (ggmlQuantize) across workers: one abstraction for Node's
// worker_threads (pool.node.ts) and the browser's Web Workers (pool.browser.ts),
// which differ only in how a worker is spawned and spoken to (PoolWorker).
//
// Why rows split exactly: every ggml quantizer works row by row (blocks never
// cross a row: cols is a multiple of the block, and the importance weights are
// per column, the same for every row), so the bytes of rows [a, b) are
// ggmlQuantize of those rows alone, and the concatenation over contiguous row
// ranges is the whole tensor's bytes — byte-identical to the single-thread path
// (tests/unit/quantize_pool.test.ts checks every type).
//
// Where it pays: a tensor below `minWeights` (default 65536) runs inline, as does
// a pool of one; the transfer of a chunk (its f32 rows out, its bytes back) is
// small next to the quantizers' work per weight. The first row always runs
// inline: it validates the job (type, block fit, importance weights) with the
// quantizer's own typed errors before anything is posted, and its bytes are the
// output's first row.
import { Sub4Error } from '../../base/errors.ts';
import { ggmlQuantize } from './ggml_quantize.ts';
import type { GgmlType } from '../formats.ts';

/** ggmlQuantize's signature, on this thread or across a pool's workers (same bytes either way). */
export type Quantizer = (type: GgmlType, src: Float32Array, rows: number, cols: number, weights: Float32Array | null) => Uint8Array | Promise<Uint8Array>;

export interface QuantizeRequest {
  id: number;
  type: GgmlType;
  src: Float32Array;
  rows: number;
  cols: number;
  weights: Float32Array | null;
}

export interface QuantizeReply {
  id: number;
  bytes?: Uint8Array;
  error?: { name: string; message: string };
}

/** A worker as the pool sees it (worker_threads Worker or Web Worker behind it). */
export interface PoolWorker {
  post(req: QuantizeRequest, transfer: ArrayBuffer[]): void;
  onReply(cb: (r: QuantizeReply) => void): void;
  onError(cb: (e: Error) => void): void;
  terminate(): void;
}

/** The worker's side: one job, answered with its bytes or the error's name and message. */
export function runQuantizeJob(req: QuantizeRequest): { reply: QuantizeReply; transfer: ArrayBuffer[] } {
  try {
    const bytes = ggmlQuantize(req.type, req.src, req.rows, req.cols, req.weights);
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
    return { reply: { id: req.id, bytes: own }, transfer: [own.buffer as ArrayBuffer] };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    return { reply: { id: req.id, error: { name: err.name, message: err.message } }, transfer: [] };
  }
}

/** A quantizer failed inside a worker (the worker's error name and message). */
export class QuantizeWorkerError extends Sub4Error {
  constructor(name: string, message: string) {
    super(`quantizer worker: ${name}: ${message}`);
  }
}

export interface PoolOptions {
  /** Tensors with fewer weights run inline (default 65536). */
  minWeights?: number;
}

type Pending = { req: QuantizeRequest; transfer: ArrayBuffer[]; resolve: (b: Uint8Array) => void; reject: (e: Error) => void };

export class QuantizePool {
  readonly size: number;
  private readonly spawn: () => PoolWorker;
  private readonly minWeights: number;
  private readonly workers: PoolWorker[] = [];
  private readonly idle: PoolWorker[] = [];
  private readonly busy = new Map<PoolWorker, Pending>();
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;
  /** Chunks posted to the workers so far (0 while every tensor ran inline): says whether the pool did any work. */
  posted = 0;

  constructor(spawn: () => PoolWorker, size: number, o: PoolOptions = {}) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`QuantizePool: size ${size} is not a positive integer`);
    this.size = size;
    this.spawn = spawn;
    this.minWeights = o.minWeights ?? 65536;
  }

  /** ggmlQuantize across the workers (same arguments, same bytes). */
  async quantize(type: GgmlType, src: Float32Array, rows: number, cols: number, weights: Float32Array | null): Promise<Uint8Array> {
    if (this.closed) throw new RangeError('QuantizePool: used after destroy()');
    if (this.size === 1 || rows < 2 || rows * cols < this.minWeights || rows * cols !== src.length) return ggmlQuantize(type, src, rows, cols, weights);
    const first = ggmlQuantize(type, src.subarray(0, cols), 1, cols, weights);
    const parts = this.size;
    const rest = rows - 1;
    const jobs: Promise<Uint8Array>[] = [];
    for (let k = 0; k < parts; k++) {
      const a = 1 + Math.floor((rest * k) / parts);
      const b = 1 + Math.floor((rest * (k + 1)) / parts);
      if (b > a) jobs.push(this.run(type, src.slice(a * cols, b * cols), b - a, cols, weights));
    }
    const chunks = await Promise.all(jobs);
    const out = new Uint8Array(first.length * rows);
    out.set(first, 0);
    let o = first.length;
    for (const c of chunks) {
      out.set(c, o);
      o += c.length;
    }
    if (o !== out.length) throw new RangeError(`QuantizePool: ${o} bytes from the workers for ${rows} rows of ${first.length}`);
    return out;
  }

  private run(type: GgmlType, src: Float32Array, rows: number, cols: number, weights: Float32Array | null): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const req = { id: this.nextId++, type, src, rows, cols, weights: weights && weights.slice() };
      this.queue.push({ req, transfer: [src.buffer as ArrayBuffer], resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length) {
      let w = this.idle.pop();
      if (!w && this.workers.length < this.size) w = this.add();
      if (!w) return;
      const job = this.queue.shift()!;
      this.busy.set(w, job);
      this.posted++;
      w.post(job.req, job.transfer);
    }
  }

  private add(): PoolWorker {
    const w = this.spawn();
    this.workers.push(w);
    w.onReply((r) => {
      const job = this.busy.get(w);
      this.busy.delete(w);
      this.idle.push(w);
      if (job && r.error) job.reject(new QuantizeWorkerError(r.error.name, r.error.message));
      else if (job) job.resolve(r.bytes!);
      this.pump();
    });
    w.onError((e) => {
      const job = this.busy.get(w);
      this.busy.delete(w);
      this.workers.splice(this.workers.indexOf(w), 1);
      job?.reject(e);
      this.pump();
    });
    return w;
  }

  /**
   * Ends the workers; jobs still queued or running are refused, so that a caller
   * awaiting quantize() (a cancelled plan) returns at once instead of never.
   */
  destroy(): void {
    this.closed = true;
    for (const job of [...this.queue.splice(0), ...this.busy.values()]) job.reject(new RangeError('QuantizePool destroyed'));
    this.busy.clear();
    for (const w of this.workers) w.terminate();
    this.workers.length = 0;
    this.idle.length = 0;
  }
}
