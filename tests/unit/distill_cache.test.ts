// The teacher cache of distillation's cached mode (src/train/distill/cache.ts):
// rows written and read back (ids and tail exact, log-probabilities within f16
// rounding, or exact as f32), the size cacheBytes predicts, a cache of another
// teacher, data, K or temperature rebuilt rather than mixed, a truncated or
// corrupted file a typed error (ensureTeacherCache rebuilds it), and τ ≠ 1 from
// a full-vocabulary cache stored at τ = 1 equal to the rows taken at τ.
import { mkdtempSync, readFileSync, rmSync, truncateSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { topKRows } from '../../src/train/distill/topk.ts';
import {
  buildTeacherCache,
  cacheBytes,
  CachedTeacher,
  CACHE_FILE,
  ensureTeacherCache,
  HEADER_BYTES,
  openTeacherCache,
  TeacherCacheError,
  TeacherCacheReader,
  TeacherCacheTruncatedError,
  windowsIdentity,
  type CacheSpec,
  type TeacherRowsOf,
} from '../../src/train/distill/cache.ts';
import { memoryCacheStore } from '../../src/train/distill/cache_store.ts';
import { folderCacheStore } from '../../src/train/distill/cache_store.node.ts';
import { opfsCacheStore } from '../../src/train/distill/cache_store.opfs.ts';
import { chooseTeacherMode, planTeacher } from '../../src/model/planner_distill.ts';
import { planStep, PlanRefusedError } from '../../src/model/planner.ts';
import type { LlamaConfig } from '../../src/arch/config.ts';

const V = 97;
const T = 5;
const count = 7;
const hash = (c: string) => c.repeat(64);

/** Deterministic "teacher": logits from the token id and position, so any window's rows can be recomputed. */
const logitsOf = (ids: Uint32Array) => {
  const z = new Float32Array(ids.length * V);
  ids.forEach((id, n) => {
    for (let v = 0; v < V; v++) z[n * V + v] = 4 * Math.sin(0.37 * v * (id + 1) + 0.11 * (n % T)) + (v === id ? 3 : 0);
  });
  return z;
};
const fakeTeacher =
  (K: number, tau: number, calls = { n: 0 }): TeacherRowsOf =>
  async (_w, ids) => {
    calls.n++;
    return topKRows(logitsOf(ids), ids.length, V, K, tau);
  };
const windows = (seed = 1) => ({ seqLen: T, count, inputs: Uint32Array.from({ length: T * count }, (_, i) => (i * 31 + seed * 7) % V) });

const spec = (o: Partial<CacheSpec> = {}): CacheSpec => ({ teacher: hash('a'), data: hash('b'), K: 16, V, T, count, tau: 1, values: 'f16', ...o });

describe('teacher cache', () => {
  it('round-trips every window: ids and tail exact, log-probs within f16 rounding (exact as f32); size = cacheBytes', async () => {
    for (const values of ['f16', 'f32'] as const) {
      const store = memoryCacheStore();
      const w = windows();
      const s = spec({ values, K: 16, tau: Math.fround(1.5) });
      const r = await buildTeacherCache(store, CACHE_FILE, s, w, fakeTeacher(16, s.tau), 3);
      expect(store.files.get(CACHE_FILE)!.length).toBe(cacheBytes(count, T, 16, values));
      expect(cacheBytes(count, T, 16, values)).toBe(HEADER_BYTES + count * (T * 16 * (values === 'f16' ? 6 : 8) + 4 * T));
      const again = await openTeacherCache(store, CACHE_FILE, s);
      expect(again).toBeInstanceOf(TeacherCacheReader);
      let worst = 0;
      for (let i = 0; i < count; i++) {
        const want = topKRows(logitsOf(w.inputs.subarray(i * T, i * T + T)), T, V, 16, s.tau);
        const got = await r.window(i);
        expect(Array.from(got.ids)).toEqual(Array.from(want.ids));
        expect(Array.from(got.tail)).toEqual(Array.from(want.tail, Math.fround));
        got.logp.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - want.logp[j]) / Math.max(1, Math.abs(want.logp[j])))));
      }
      if (values === 'f32') expect(worst).toBe(0);
      else expect(worst).toBeLessThanOrEqual(2 ** -11);
    }
  });

  it('reuses a matching cache and rebuilds one of another teacher, data, K or temperature, never mixing', async () => {
    const store = memoryCacheStore();
    const w = windows();
    const logs: string[] = [];
    const calls = { n: 0 };
    const base = spec({ data: await windowsIdentity(w) });
    expect((await ensureTeacherCache(store, base, w, fakeTeacher(16, 1, calls), 4, (l) => logs.push(l))).built).toBe(true);
    expect(calls.n).toBe(2); // 7 windows, 4 at a time
    expect((await ensureTeacherCache(store, base, w, fakeTeacher(16, 1, calls), 4, (l) => logs.push(l))).built).toBe(false);
    expect(calls.n).toBe(2);
    const other = windows(2);
    const changes: [Partial<CacheSpec>, RegExp][] = [
      [{ teacher: hash('c') }, /another teacher/],
      [{ data: await windowsIdentity(other) }, /other training windows/],
      [{ K: 32 }, /top-16, not the top-32/],
      [{ tau: 2 }, /temperature 1, not 2/],
      [{ values: 'f32' }, /f16, not f32/],
    ];
    let prev = base;
    let wins = w;
    for (const [c, why] of changes) {
      const s = { ...prev, ...c }; // one more field changed each time: the reason named is that field's
      if (c.data) wins = other;
      const had = await openTeacherCache(store, CACHE_FILE, s);
      expect(had).toEqual({ stale: expect.stringMatching(why) });
      const r = await ensureTeacherCache(store, s, wins, fakeTeacher(s.K, s.tau), 4, (l) => logs.push(l));
      expect(r.built).toBe(true);
      expect(r.reader.spec).toEqual(s);
      expect(await openTeacherCache(store, CACHE_FILE, prev)).toHaveProperty('stale'); // replaced, not added to
      prev = s;
    }
    expect(logs.join('\n')).toMatch(/building, the one there is stale: it was made by another teacher/);
    expect(await windowsIdentity(w)).not.toBe(await windowsIdentity(other));
  });

  it('a truncated cache is a TeacherCacheTruncatedError, and ensureTeacherCache rebuilds it', async () => {
    const store = memoryCacheStore();
    const w = windows();
    const s = spec();
    const r = await buildTeacherCache(store, CACHE_FILE, s, w, fakeTeacher(16, 1), 2);
    const full = store.files.get(CACHE_FILE)!;
    for (const cut of [full.length - 1, HEADER_BYTES + 10, 50, 3]) {
      store.files.set(CACHE_FILE, full.slice(0, cut));
      await expect(openTeacherCache(store, CACHE_FILE, s)).rejects.toThrow(TeacherCacheTruncatedError);
    }
    // Cut after it was opened: the window read says so.
    store.files.set(CACHE_FILE, full.slice(0, full.length - 1));
    await expect(r.window(count - 1)).rejects.toThrow(TeacherCacheTruncatedError);
    await expect(r.window(0)).resolves.toBeTruthy();
    const logs: string[] = [];
    const again = await ensureTeacherCache(store, s, w, fakeTeacher(16, 1), 2, (l) => logs.push(l));
    expect(again.built).toBe(true);
    expect(logs[0]).toMatch(/unreadable: .*truncated/);
    expect(store.files.get(CACHE_FILE)).toEqual(full);
  });

  it('treats the bytes as hostile: bad magic, impossible header, ids outside the vocabulary or repeated, bad tails', async () => {
    const store = memoryCacheStore();
    const s = spec();
    await buildTeacherCache(store, CACHE_FILE, s, windows(), fakeTeacher(16, 1), 7);
    const full = store.files.get(CACHE_FILE)!;
    const patched = (f: (dv: DataView) => void) => {
      const b = full.slice();
      f(new DataView(b.buffer));
      store.files.set(CACHE_FILE, b);
    };
    patched((dv) => dv.setUint8(0, 0x41));
    await expect(openTeacherCache(store, CACHE_FILE, s)).rejects.toThrow(/not a sub4 teacher cache/);
    patched((dv) => dv.setUint32(80, V + 1, true)); // K > V
    await expect(openTeacherCache(store, CACHE_FILE, s)).rejects.toThrow(/impossible header: top-K/);
    patched((dv) => dv.setUint32(92, 2 ** 31 + 5, true)); // a count the file cannot hold
    await expect(openTeacherCache(store, CACHE_FILE, s)).rejects.toThrow(TeacherCacheError);
    patched((dv) => dv.setUint32(100, 7, true));
    await expect(openTeacherCache(store, CACHE_FILE, s)).rejects.toThrow(/values/);
    const n = T * s.K;
    const idAt = (t: number, k: number) => HEADER_BYTES + n * 2 + 4 * (t * s.K + k);
    for (const [f, why] of [
      [(dv: DataView) => dv.setUint32(idAt(2, 3), V, true), /names id 97, outside the vocabulary/],
      [(dv: DataView) => dv.setUint32(idAt(1, 1), dv.getUint32(idAt(1, 0), true), true), /twice/],
      [(dv: DataView) => dv.setFloat32(HEADER_BYTES + n * 6 + 4, NaN, true), /tail mass NaN/],
      [(dv: DataView) => dv.setUint16(HEADER_BYTES + 2 * 5, 0x7e00, true), /log-probability NaN/],
    ] as const) {
      patched(f);
      const r = await openTeacherCache(store, CACHE_FILE, s);
      await expect((r as TeacherCacheReader).window(0)).rejects.toThrow(why);
      await expect((r as TeacherCacheReader).window(0)).rejects.toThrow(TeacherCacheError);
    }
    patched(() => {});
    store.files.set(CACHE_FILE, new Uint8Array([...full, 0]));
    await expect(openTeacherCache(store, CACHE_FILE, s)).rejects.toThrow(/trailing bytes/);
  });

  it('a full-vocabulary cache at τ = 1 gives the rows at any τ; a top-K one only at its own', async () => {
    const store = memoryCacheStore();
    const w = windows();
    const s = spec({ K: V, values: 'f32' });
    const r = await buildTeacherCache(store, CACHE_FILE, s, w, fakeTeacher(V, 1), 3);
    const ct = new CachedTeacher(null as never, r, 2);
    const got = await ct.targets([3, 0]);
    const ids = new Uint32Array(2 * T);
    ids.set(w.inputs.subarray(3 * T, 4 * T), 0);
    ids.set(w.inputs.subarray(0, T), T);
    const want = topKRows(logitsOf(ids), 2 * T, V, V, 2);
    expect(Array.from(got.ids)).toEqual(Array.from(want.ids));
    let worst = 0;
    got.logp.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - want.logp[j]))));
    expect(worst).toBeLessThan(1e-5);
    expect(Array.from(got.tail)).toEqual(new Array(2 * T).fill(0));
    const k16 = await buildTeacherCache(store, 'k16', spec({ K: 16, tau: 1 }), w, fakeTeacher(16, 1), 3);
    expect(() => new CachedTeacher(null as never, k16, 2)).toThrow(/cannot give temperature 2/);
    await expect(new CachedTeacher(null as never, k16, 1).prepare(new Uint32Array(T), () => true)).rejects.toThrow(/window index/);
  });
});

describe('folderCacheStore', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('writes through a partial file, reads ranges, and a truncated file is caught', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sub4-tcache-'));
    dirs.push(dir);
    const store = folderCacheStore(join(dir, 'cache'));
    const w = windows();
    const s = spec();
    const calls = { n: 0 };
    const slow: TeacherRowsOf = async (wins, ids) => {
      if (calls.n === 1) expect(existsSync(join(dir, 'cache', CACHE_FILE))).toBe(false); // nothing under the name mid-build
      return fakeTeacher(16, 1, calls)(wins, ids);
    };
    const r = await buildTeacherCache(store, CACHE_FILE, s, w, slow, 3);
    const path = join(dir, 'cache', CACHE_FILE);
    expect(readFileSync(path).length).toBe(cacheBytes(count, T, 16));
    expect(existsSync(`${path}.partial`)).toBe(false);
    expect(await store.size('nope')).toBeNull();
    const w4 = await r.window(4);
    expect(Array.from(w4.ids)).toEqual(Array.from(topKRows(logitsOf(w.inputs.subarray(4 * T, 5 * T)), T, V, 16, 1).ids));
    truncateSync(path, cacheBytes(count, T, 16) - 7);
    await expect(openTeacherCache(store, CACHE_FILE, s)).rejects.toThrow(TeacherCacheTruncatedError);
    const failing: TeacherRowsOf = async () => {
      throw new Error('teacher lost');
    };
    await store.remove(CACHE_FILE);
    await expect(buildTeacherCache(store, CACHE_FILE, s, w, failing, 3)).rejects.toThrow('teacher lost');
    expect(existsSync(path) || existsSync(`${path}.partial`)).toBe(false);
  });
});

describe('chooseTeacherMode', () => {
  const config: LlamaConfig = {
    architecture: 'llama', vocabSize: 32000, hiddenSize: 256, intermediateSize: 688, numLayers: 4, numHeads: 4, numKvHeads: 2, headDim: 64,
    ropeTheta: 10000, ropeScaling: { type: 'none' }, rmsNormEps: 1e-5, tieWordEmbeddings: false, qkvBias: false, oBias: false, mlpBias: false,
    bosTokenId: 1, eosTokenIds: [2], maxPositions: 512, slidingWindow: null,
  };
  const dense = () => ({ kind: 'dense' }) as const;
  const student = planStep({ config, storage: () => ({ kind: 'quant', bits: 2, groupSize: 32 }), train: { method: 'peqa' }, B: 2, T: 64 });
  const live = planTeacher({ config, storage: dense, B: 2, T: 64, topK: 64 });
  const cached = planTeacher({ config, storage: dense, B: 2, T: 64, topK: 64, cached: true });
  const limits = { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 30 };

  it('plans a cached teacher as its rows only, and picks cached exactly when the teacher does not fit beside the student', () => {
    expect(cached.parts).toEqual({ weights: 0, activations: 0, logits: 0, rows: live.parts.rows });
    expect(live.parts.weights).toBeGreaterThan(2 * config.vocabSize * config.hiddenSize * 4);
    const auto = (available: number | null) => chooseTeacherMode({ mode: 'auto', student, live, cached, limits, available });
    expect(auto(null).mode).toBe('live');
    expect(auto(null).why).toMatch(/not known to WebGPU/);
    expect(auto(student.total + live.total).mode).toBe('live');
    const tight = auto(student.total + live.total - 1);
    expect(tight.mode).toBe('cached');
    expect(tight.plan.total).toBe(student.total + cached.total);
    expect(tight.why).toMatch(/does not fit beside the student .*cached/);
    // Forced: cached even where live fits; live refused where it does not; nothing fits → the planner's error.
    expect(chooseTeacherMode({ mode: 'cached', student, live, cached, limits, available: null }).mode).toBe('cached');
    expect(() => chooseTeacherMode({ mode: 'live', student, live, cached, limits, available: student.total + live.total - 1 })).toThrow(PlanRefusedError);
    expect(() => auto(student.total + cached.total - 1)).toThrow(PlanRefusedError);
    // The build runs the teacher alone: a device that cannot hold it cannot cache either.
    expect(() => auto(Math.min(student.total + cached.total, live.total - 1) + 0)).toThrow(PlanRefusedError);
  });

  it('--hidden-loss: the live teacher keeps its residual stream per layer (numLayers + 1 more [N, C] buffers at most)', () => {
    const hidden = planTeacher({ config, storage: dense, B: 2, T: 64, topK: 64, hidden: true });
    const extra = hidden.parts.activations - live.parts.activations;
    const NC = 2 * 64 * config.hiddenSize * 4;
    expect(extra).toBeGreaterThanOrEqual((config.numLayers - 1) * NC);
    expect(extra).toBeLessThanOrEqual((config.numLayers + 1) * NC);
    expect(hidden.parts.weights).toBe(live.parts.weights);
  });
});

describe('opfsCacheStore', () => {
  /** Enough of an OPFS directory: a writable's bytes land only at close(), abort() drops them, a missing entry is a NotFoundError. */
  const fakeDir = () => {
    const files = new Map<string, Uint8Array>();
    const notFound = (n: string) => new DOMException(`${n} not found`, 'NotFoundError');
    const dir = {
      files,
      async getFileHandle(name: string, o?: { create?: boolean }) {
        if (!files.has(name) && !o?.create) throw notFound(name);
        if (!files.has(name)) files.set(name, new Uint8Array(0)); // create: an empty file at once, as OPFS does
        return {
          async getFile() {
            if (!files.has(name)) throw notFound(name);
            return new Blob([files.get(name)! as Uint8Array<ArrayBuffer>]);
          },
          async createWritable() {
            const parts: Uint8Array[] = [];
            return {
              async write(b: Uint8Array) {
                parts.push(b.slice());
              },
              async close() {
                files.set(name, new Uint8Array(await new Blob(parts as Uint8Array<ArrayBuffer>[]).arrayBuffer()));
              },
              async abort() {},
            };
          },
        };
      },
      async removeEntry(name: string) {
        if (!files.delete(name)) throw notFound(name);
      },
    };
    return dir;
  };

  it('builds, reuses and catches a truncated cache in an OPFS directory; an aborted build leaves nothing', async () => {
    const dir = fakeDir();
    const store = opfsCacheStore(dir as unknown as FileSystemDirectoryHandle, 'OPFS run-1');
    const w = windows();
    const s = spec();
    expect(await store.size(CACHE_FILE)).toBeNull();
    const built = await ensureTeacherCache(store, s, w, fakeTeacher(16, 1), 3);
    expect(built.built).toBe(true);
    expect(dir.files.get(CACHE_FILE)!.length).toBe(cacheBytes(count, T, 16));
    expect((await ensureTeacherCache(store, s, w, fakeTeacher(16, 1), 3)).built).toBe(false);
    const r = (await openTeacherCache(store, CACHE_FILE, s)) as TeacherCacheReader;
    expect(Array.from((await r.window(6)).ids)).toEqual(Array.from(topKRows(logitsOf(w.inputs.subarray(6 * T, 7 * T)), T, V, 16, 1).ids));
    dir.files.set(CACHE_FILE, dir.files.get(CACHE_FILE)!.slice(0, 200));
    await expect(openTeacherCache(store, CACHE_FILE, s)).rejects.toThrow(TeacherCacheTruncatedError);
    await store.remove(CACHE_FILE);
    await store.remove(CACHE_FILE); // missing: no error
    await expect(buildTeacherCache(store, CACHE_FILE, s, w, async () => Promise.reject(new Error('lost')), 3)).rejects.toThrow('lost');
    expect(dir.files.has(CACHE_FILE)).toBe(false);
    expect(store.describe(CACHE_FILE)).toBe('OPFS run-1/teacher.s4tc');
  });
});
