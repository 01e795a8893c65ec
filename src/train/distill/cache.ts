// The teacher of a distillation run in cached mode: its top-K rows over the
// run's train windows, computed once (by a LiveTeacher) and streamed to one
// file, then read back a micro-batch at a time instead of running the teacher.
//
// File (little-endian), HEADER_BYTES of header then one block per window:
//   0  magic "SUB4TKC\0"         8  version u32        12 header bytes u32
//   16 teacher identity SHA-256 (32 bytes: checkpoint/identity.ts modelIdentity)
//   48 data identity SHA-256 (32 bytes: windowsIdentity, the train windows' token ids)
//   80 K u32   84 V u32   88 T u32   92 count u32   96 tau f32   100 values u32 (0 f16, 1 f32)
//   block: [T·K] log-probabilities (f16 or f32), [T·K] u32 ids, [T] f32 tail mass
// Temperature: with K = V the rows are stored at τ = 1 (raw log-probabilities)
// and any run temperature is exact from them (l/τ renormalized over the whole
// vocabulary, tail 0). With K < V they are stored at the run's τ: the tail mass
// at τ is Σ over the tokens not kept of p^(1/τ), which the T = 1 tail cannot
// give, so such a cache is bound to its temperature (another one → rebuild).
// A cache of another teacher, data, K, V, T, temperature or value type is
// stale and rebuilt, never mixed; a short file is a TeacherCacheTruncatedError
// (ensureTeacherCache rebuilds it); every field and row read is checked.
import { FormatError } from '../../base/errors.ts';
import type { GpuContext } from '../../gpu/device.ts';
import type { Divergence } from '../../gpu/kernels/distill.ts';
import { f16ToF32, f32ToF16 } from '../../quant/f16.ts';
import type { Windows } from '../data/pack.ts';
import type { TeacherCacheStore } from './cache_store.ts';
import { teacherBatch, type DistillBatch, type DistillSource, type TeacherSource, type TeacherTargets } from './teacher.ts';

export const CACHE_MAGIC = 'SUB4TKC\0';
export const CACHE_VERSION = 1;
export const HEADER_BYTES = 128;
/** The cache file's name inside its store (one per cache dir: another teacher/data/K replaces it). */
export const CACHE_FILE = 'teacher.s4tc';

/** A file that is not a readable teacher cache (bad magic, impossible fields, bad rows). */
export class TeacherCacheError extends FormatError {}
/** A teacher cache shorter than its header says: an interrupted copy or a truncated file. */
export class TeacherCacheTruncatedError extends TeacherCacheError {}

export type CacheValues = 'f16' | 'f32';

/** What a cache holds and was made from; two caches agree iff every field does. */
export interface CacheSpec {
  /** SHA-256 hex of the teacher (modelIdentity(...).sha256). */
  teacher: string;
  /** SHA-256 hex of the train windows (windowsIdentity). */
  data: string;
  K: number;
  V: number;
  T: number;
  count: number;
  /** Temperature of the stored rows: 1 when K = V (storedTemperature). */
  tau: number;
  values: CacheValues;
}

const valueBytes = (v: CacheValues) => (v === 'f16' ? 2 : 4);

/** Bytes of one window's block. */
export function windowBytes(T: number, K: number, values: CacheValues = 'f16'): number {
  return T * K * (valueBytes(values) + 4) + 4 * T;
}

/** Bytes of a cache of `windows` windows of T tokens, K per token (the CLI prints it before writing). */
export function cacheBytes(windows: number, T: number, K: number, values: CacheValues = 'f16'): number {
  return HEADER_BYTES + windows * windowBytes(T, K, values);
}

/** The temperature a cache stores its rows at: 1 (raw) with the whole vocabulary, else the run's. */
export const storedTemperature = (K: number, V: number, tau: number) => (K === V ? 1 : tau);

/**
 * f16 log-probabilities for a top-K cache, f32 for the whole vocabulary. Measured on stories260K
 * (tests/gpu/distill_cache.test.ts): f16 moves a step's loss by 2–3e-4 of itself (per token up to
 * 1.2e-3 nats); f32 by 0 at τ = 1 and < 1e-7 at τ = 2. The exact-KL case (K = V) is the one asked to
 * match live within 1e-4, so it pays 8 bytes a row instead of 6.
 */
export const defaultCacheValues = (K: number, V: number): CacheValues => (K === V ? 'f32' : 'f16');

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** SHA-256 of the train windows' token ids (all a teacher's rows depend on) with T and the count. */
export async function windowsIdentity(w: Pick<Windows, 'seqLen' | 'count' | 'inputs'>): Promise<string> {
  const head = new Uint32Array([w.seqLen, w.count]);
  const ids = w.inputs.subarray(0, w.seqLen * w.count);
  const all = new Uint8Array(8 + ids.byteLength);
  all.set(new Uint8Array(head.buffer), 0);
  all.set(new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength), 8);
  return sha256Hex(all);
}

const hexBytes = (hex: string, what: string): Uint8Array => {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new RangeError(`teacher cache: the ${what} identity must be 64 hex digits (a SHA-256)`);
  return Uint8Array.from({ length: 32 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
};
const bytesHex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');

function checkSpec(s: CacheSpec): void {
  const int = (x: number, lo: number, hi: number, what: string) => {
    if (!Number.isInteger(x) || x < lo || x > hi) throw new RangeError(`teacher cache: ${what} ${x} must be an integer in ${lo}..${hi}`);
  };
  int(s.V, 1, 2 ** 24, 'vocabulary size');
  int(s.K, 1, s.V, 'top-K');
  int(s.T, 1, 2 ** 20, 'window length');
  int(s.count, 0, 2 ** 31, 'window count');
  if (!(s.tau > 0) || !Number.isFinite(s.tau) || Math.fround(s.tau) !== s.tau) throw new RangeError(`teacher cache: temperature ${s.tau} must be a positive f32`);
  if (s.values !== 'f16' && s.values !== 'f32') throw new RangeError(`teacher cache: values ${s.values as string} must be f16 or f32`);
  hexBytes(s.teacher, 'teacher');
  hexBytes(s.data, 'data');
}

export function encodeCacheHeader(s: CacheSpec): Uint8Array {
  checkSpec(s);
  const out = new Uint8Array(HEADER_BYTES);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) out[i] = CACHE_MAGIC.charCodeAt(i);
  dv.setUint32(8, CACHE_VERSION, true);
  dv.setUint32(12, HEADER_BYTES, true);
  out.set(hexBytes(s.teacher, 'teacher'), 16);
  out.set(hexBytes(s.data, 'data'), 48);
  [s.K, s.V, s.T, s.count].forEach((x, i) => dv.setUint32(80 + 4 * i, x, true));
  dv.setFloat32(96, s.tau, true);
  dv.setUint32(100, s.values === 'f16' ? 0 : 1, true);
  return out;
}

/** Parse a header from untrusted bytes: a version this code does not read is `version` (stale, rebuilt). */
export function decodeCacheHeader(bytes: Uint8Array, file: string): CacheSpec | { version: number } {
  if (bytes.length < 16) throw new TeacherCacheTruncatedError(file, `${bytes.length} bytes, shorter than a teacher cache header`);
  for (let i = 0; i < 8; i++) if (bytes[i] !== CACHE_MAGIC.charCodeAt(i)) throw new TeacherCacheError(file, 'not a sub4 teacher cache (bad magic)');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== CACHE_VERSION) return { version };
  if (dv.getUint32(12, true) !== HEADER_BYTES) throw new TeacherCacheError(file, `header of ${dv.getUint32(12, true)} bytes, not ${HEADER_BYTES}`);
  if (bytes.length < HEADER_BYTES) throw new TeacherCacheTruncatedError(file, `${bytes.length} bytes, shorter than the ${HEADER_BYTES}-byte header`);
  const code = dv.getUint32(100, true);
  const s: CacheSpec = {
    teacher: bytesHex(bytes.subarray(16, 48)),
    data: bytesHex(bytes.subarray(48, 80)),
    K: dv.getUint32(80, true),
    V: dv.getUint32(84, true),
    T: dv.getUint32(88, true),
    count: dv.getUint32(92, true),
    tau: dv.getFloat32(96, true),
    values: code === 0 ? 'f16' : code === 1 ? 'f32' : ('?' as CacheValues),
  };
  try {
    checkSpec(s);
  } catch (e) {
    throw new TeacherCacheError(file, `impossible header: ${(e as Error).message.replace(/^teacher cache: /, '')}`);
  }
  return s;
}

/** Why `have` cannot stand for `want`, in words; null when it can. */
export function cacheMismatch(have: CacheSpec, want: CacheSpec): string | null {
  if (have.teacher !== want.teacher) return `it was made by another teacher (${have.teacher.slice(0, 12)}, not ${want.teacher.slice(0, 12)})`;
  if (have.data !== want.data || have.T !== want.T || have.count !== want.count) return `it was made on other training windows (${have.count} of ${have.T} tokens, ${have.data.slice(0, 12)})`;
  if (have.V !== want.V) return `it has a vocabulary of ${have.V}, not ${want.V}`;
  if (have.K !== want.K) return `it holds the top-${have.K}, not the top-${want.K}`;
  if (have.tau !== want.tau) return `its rows are at temperature ${have.tau}, not ${want.tau}`;
  if (have.values !== want.values) return `its log-probabilities are ${have.values}, not ${want.values}`;
  return null;
}

/** One window's rows as stored (log-probabilities at the cache's temperature). */
export interface CachedWindow {
  logp: Float32Array;
  ids: Uint32Array;
  tail: Float32Array;
}

/** An open, checked cache file. */
export class TeacherCacheReader {
  private readonly stamp: Uint32Array;
  private row = 0;

  constructor(
    readonly store: TeacherCacheStore,
    readonly name: string,
    readonly spec: CacheSpec,
  ) {
    this.stamp = new Uint32Array(spec.V);
  }

  get file(): string {
    return this.store.describe(this.name);
  }

  /** Window i's block, every value checked (ids in the vocabulary and distinct per row, log-probs ≤ 0, tail in [0, 1]). */
  async window(i: number): Promise<CachedWindow> {
    const { T, K, V, count, values } = this.spec;
    if (!Number.isInteger(i) || i < 0 || i >= count) throw new RangeError(`teacher cache ${this.file}: window ${i} is outside its ${count} windows`);
    const wb = windowBytes(T, K, values);
    const at = HEADER_BYTES + i * wb;
    const b = await this.store.read(this.name, at, wb);
    if (b.length < wb) throw new TeacherCacheTruncatedError(this.file, `ends inside window ${i} (${at + b.length} bytes, the header says ${cacheBytes(count, T, K, values)})`);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const n = T * K;
    const vb = valueBytes(values);
    const logp = new Float32Array(n);
    const ids = new Uint32Array(n);
    const tail = new Float32Array(T);
    for (let j = 0; j < n; j++) logp[j] = vb === 2 ? f16ToF32(dv.getUint16(2 * j, true)) : dv.getFloat32(4 * j, true);
    for (let j = 0; j < n; j++) ids[j] = dv.getUint32(n * vb + 4 * j, true);
    for (let t = 0; t < T; t++) tail[t] = dv.getFloat32(n * (vb + 4) + 4 * t, true);
    const bad = (what: string) => new TeacherCacheError(this.file, `window ${i}: ${what}`);
    for (let t = 0; t < T; t++) {
      if (++this.row === 0xffffffff) {
        this.stamp.fill(0);
        this.row = 1;
      }
      if (!(tail[t] >= 0 && tail[t] <= 1)) throw bad(`token ${t} has tail mass ${tail[t]}`);
      for (let k = 0; k < K; k++) {
        const id = ids[t * K + k];
        const lp = logp[t * K + k];
        if (id >= V) throw bad(`token ${t} names id ${id}, outside the vocabulary of ${V}`);
        if (this.stamp[id] === this.row) throw bad(`token ${t} names id ${id} twice`);
        this.stamp[id] = this.row;
        if (!(lp <= 1e-3) || Number.isNaN(lp)) throw bad(`token ${t} has log-probability ${lp}`);
      }
    }
    return { logp, ids, tail };
  }
}

/** Open the cache `name` of `store` for `want`: the reader, or why it is stale; null when there is none. Truncated/corrupt: throws. */
export async function openTeacherCache(store: TeacherCacheStore, name: string, want: CacheSpec): Promise<TeacherCacheReader | { stale: string } | null> {
  const size = await store.size(name);
  if (size === null) return null;
  const file = store.describe(name);
  const h = decodeCacheHeader(await store.read(name, 0, HEADER_BYTES), file);
  if ('version' in h) return { stale: `it is of format version ${h.version}, this sub4 reads ${CACHE_VERSION}` };
  const expected = cacheBytes(h.count, h.T, h.K, h.values);
  if (size < expected) throw new TeacherCacheTruncatedError(file, `${size} bytes where its header says ${expected} (${h.count} windows): truncated`);
  if (size > expected) throw new TeacherCacheError(file, `${size} bytes where its header says ${expected}: trailing bytes`);
  const why = cacheMismatch(h, want);
  return why ? { stale: why } : new TeacherCacheReader(store, name, h);
}

/** Makes the rows of B windows (a LiveTeacher's targets at the cache's temperature). */
export type TeacherRowsOf = (windows: readonly number[], ids: Uint32Array) => Promise<TeacherTargets>;

/**
 * Stream the cache of `spec` over `w`: the header, then the windows B at a time
 * (the last group padded with window 0 and the padding dropped). Nothing is
 * visible under `name` until the whole file is written.
 */
export async function buildTeacherCache(store: TeacherCacheStore, name: string, spec: CacheSpec, w: Pick<Windows, 'seqLen' | 'count' | 'inputs'>, rowsOf: TeacherRowsOf, B: number, onProgress?: (done: number, total: number) => void): Promise<TeacherCacheReader> {
  checkSpec(spec);
  const { T, K, count, values } = spec;
  if (w.seqLen !== T || w.count !== count) throw new RangeError(`teacher cache: the windows are ${w.count} of ${w.seqLen} tokens, the cache's ${count} of ${T}`);
  const out = await store.writer(name);
  try {
    await out.write(encodeCacheHeader(spec));
    const n = T * K;
    const vb = valueBytes(values);
    for (let i0 = 0; i0 < count; i0 += B) {
      const wins = Array.from({ length: B }, (_, b) => (i0 + b < count ? i0 + b : 0));
      const ids = new Uint32Array(B * T);
      wins.forEach((i, b) => ids.set(w.inputs.subarray(i * T, i * T + T), b * T));
      const r = await rowsOf(wins, ids);
      if (r.K !== K || r.ids.length !== B * n || r.tail.length !== B * T) throw new RangeError(`teacher cache: the teacher gave ${r.ids.length} rows of top-${r.K} for ${B} windows of ${T} × top-${K}`);
      const real = Math.min(B, count - i0);
      const block = new Uint8Array(real * windowBytes(T, K, values));
      const dv = new DataView(block.buffer);
      for (let b = 0; b < real; b++) {
        const o = b * windowBytes(T, K, values);
        for (let j = 0; j < n; j++) {
          const v = r.logp[b * n + j];
          if (vb === 2) dv.setUint16(o + 2 * j, f32ToF16(v), true);
          else dv.setFloat32(o + 4 * j, v, true);
        }
        for (let j = 0; j < n; j++) dv.setUint32(o + n * vb + 4 * j, r.ids[b * n + j], true);
        for (let t = 0; t < T; t++) dv.setFloat32(o + n * (vb + 4) + 4 * t, r.tail[b * T + t], true);
      }
      await out.write(block);
      onProgress?.(i0 + real, count);
    }
    await out.commit();
  } catch (e) {
    await out.abort();
    throw e;
  }
  return new TeacherCacheReader(store, name, spec);
}

/** The cache for `spec`: the one in the store when it matches, else built (and why said through `log`). */
export async function ensureTeacherCache(
  store: TeacherCacheStore,
  spec: CacheSpec,
  w: Pick<Windows, 'seqLen' | 'count' | 'inputs'>,
  rowsOf: TeacherRowsOf,
  B: number,
  log: (line: string) => void = () => {},
  onProgress?: (done: number, total: number) => void,
): Promise<{ reader: TeacherCacheReader; built: boolean }> {
  const file = store.describe(CACHE_FILE);
  let why: string;
  try {
    const r = await openTeacherCache(store, CACHE_FILE, spec);
    if (r instanceof TeacherCacheReader) {
      log(`teacher cache ${file}: reused (${r.spec.count} windows, top-${r.spec.K})`);
      return { reader: r, built: false };
    }
    why = r === null ? 'there is none yet' : `the one there is stale: ${r.stale}`;
  } catch (e) {
    if (!(e instanceof TeacherCacheError)) throw e;
    why = `the one there is unreadable: ${e.detail}`;
  }
  log(`teacher cache ${file}: building, ${why} (${fmtBytes(cacheBytes(spec.count, spec.T, spec.K, spec.values))})`);
  await store.remove(CACHE_FILE);
  return { reader: await buildTeacherCache(store, CACHE_FILE, spec, w, rowsOf, B, onProgress), built: true };
}

export const fmtBytes = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${(n / 2 ** 10).toFixed(1)} KiB`);

/**
 * The teacher in cached mode: a micro-batch's rows read from the cache by
 * train window index, at the run's temperature, uploaded per step.
 */
export class CachedTeacher implements DistillSource, TeacherSource {
  constructor(
    readonly ctx: GpuContext,
    readonly reader: TeacherCacheReader,
    readonly temperature: number,
    readonly divergence: Divergence = 'kl',
  ) {
    const s = reader.spec;
    if (!(temperature > 0) || !Number.isFinite(temperature)) throw new RangeError(`distill: --temperature ${temperature} must be a positive number`);
    if (s.tau !== storedTemperature(s.K, s.V, Math.fround(temperature))) throw new RangeError(`teacher cache ${reader.file}: its rows are at temperature ${s.tau} and hold the top-${s.K} of ${s.V}: they cannot give temperature ${temperature}`);
  }

  get K(): number {
    return this.reader.spec.K;
  }

  async targets(windows: readonly number[]): Promise<TeacherTargets> {
    const { T, K } = this.reader.spec;
    const B = windows.length;
    const out: TeacherTargets & { tail: Float32Array } = { K, ids: new Uint32Array(B * T * K), logp: new Float32Array(B * T * K), tail: new Float32Array(B * T) };
    const rescale = Math.fround(this.temperature) !== this.reader.spec.tau; // only with K = V (checked above)
    const inv = 1 / this.temperature;
    for (let b = 0; b < B; b++) {
      const w = await this.reader.window(windows[b]);
      out.ids.set(w.ids, b * T * K);
      out.tail.set(w.tail, b * T);
      if (!rescale) out.logp.set(w.logp, b * T * K);
      else
        for (let t = 0; t < T; t++) {
          // log softmax of l/τ over the whole vocabulary (the stored l are log-probabilities at τ = 1).
          const o = t * K;
          let max = -Infinity;
          for (let k = 0; k < K; k++) max = Math.max(max, w.logp[o + k] * inv);
          let sum = 0;
          for (let k = 0; k < K; k++) sum += Math.exp(w.logp[o + k] * inv - max);
          const lse = max + Math.log(sum);
          for (let k = 0; k < K; k++) out.logp[b * T * K + o + k] = w.logp[o + k] * inv - lse;
        }
    }
    return out;
  }

  async prepare(_ids: Uint32Array, counts: (n: number) => boolean, windows?: readonly number[]): Promise<DistillBatch> {
    if (!windows) throw new RangeError('distill: a cached teacher needs the train window index of each row (Trainer passes them)');
    return teacherBatch(this.ctx, this.reader.spec.V, await this.targets(windows), this.temperature, counts, this.divergence);
  }

  destroy(): void {}
}
