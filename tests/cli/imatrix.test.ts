// `sub4 imatrix` end to end through the real bin entry, on stories260K with
// tinyshakespeare (--ctx 64 --chunks 4): the file re-read by sub4's imatrix
// reader has llama.cpp's keys, one entry per blk.* 2-D weight of the model with
// counts = 4·64 and n_cols = the weight's input width, and every in_sum2 equals
// Σx² recomputed in f64 from sub4's own forward activations (each linear input
// copied out of the forward and summed on the CPU) within 1e-4 relative; layer
// 0's q/k/v input is also recomputed wholly on the CPU (f64 embedding and
// RMSNorm references). The chunks follow llama.cpp's rule, rebuilt here from
// the tokenizer directly. Errors: short text, small --ctx, missing --out.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { gpuReady } from '../helpers/gpu_available.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { readGguf } from '../../src/io/gguf/reader.ts';
import { readImatrix } from '../../src/io/imatrix/reader.ts';
import { openWithTokenizer, toGpu } from '../../src/cli/model_gpu.ts';
import { imatrixChunks } from '../../src/cli/imatrix.ts';
import { linearGgufNames } from '../../src/model/imatrix.ts';
import { GpuTensor } from '../../src/gpu/buffers.ts';
import { sumsqColumnsRef } from '../../src/ref/sumsq.ts';
import { embeddingForwardRef } from '../../src/ref/embedding.ts';
import { rmsnormForwardRef } from '../../src/ref/rmsnorm.ts';
import type { LinearRole } from '../../src/arch/params.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
const fail = (args: string[]) => run('node', [BIN, ...args], { timeout: 120_000 }).then(() => ({ code: 0, stderr: '' }), (e) => e as { code: number; stderr: string });

function maxRel(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), 1e-30));
  return m;
}

describe('sub4 imatrix', () => {
  it('stories260K, ctx 64 × 4 chunks: every blk weight, counts 256, Σx² equal to a recomputation from the forward', { timeout: 120_000 }, async () => {
    const model = fixture('models/stories260K.gguf');
    const data = fixture('data/tinyshakespeare/input.txt');
    if (!model || !data || !gpuReady()) return;
    const dir = mkdtempSync(join(tmpdir(), 'sub4-imatrix-'));
    const out = join(dir, 'stories260K.imatrix.gguf');
    const { stdout } = await run('node', [BIN, 'imatrix', model, '--data', data, '--ctx', '64', '--chunks', '4', '--out', out, '--json'], { timeout: 120_000 });
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l));
    const ev = lines.filter((l) => l.type === 'progress' && l.phase === 'imatrix');
    expect(ev.at(-1)).toMatchObject({ done: 256, total: 256, unit: 'tokens' });
    expect(lines.at(-1)).toMatchObject({ out, chunks: 4, ctx: 64, tokens: 256 });

    const outSrc = await fileSource(out);
    const im = await readImatrix(outSrc);
    await outSrc.close?.();
    expect(im.format).toBe('gguf');
    expect(im.hasMetadata).toBe(true);
    expect(im.datasets).toEqual([data]);
    expect([im.chunkCount, im.chunkSize]).toEqual([4, 64]);
    // Every blk.* 2-D weight of the model, and nothing else.
    const g = await readGguf(await fileSource(model));
    const weights = g.tensors.filter((t) => /^blk\.\d+\..+\.weight$/.test(t.name) && t.ne.length === 2);
    expect(weights.length).toBe(5 * 7);
    expect([...im.entries.keys()].sort()).toEqual(weights.map((t) => t.name).sort());
    for (const t of weights) {
      const e = im.entries.get(t.name)!;
      expect(e.counts, t.name).toEqual([4 * 64]);
      expect(e.nCols, t.name).toBe(t.ne[0]);
    }
    await g.source.close?.();

    // The same chunks, rebuilt by llama.cpp's rule from the tokenizer: BOS-led text, consecutive ctx-token chunks, BOS first.
    const m = await openWithTokenizer(model);
    const tok = m.tokenizer;
    const text = readFileSync(data, 'utf8');
    const all = tok.encode(text.slice(0, 20_000), { addBos: true, parseSpecial: false });
    expect(all[0]).toBe(tok.bosId);
    const chunks = Array.from({ length: 4 }, (_, i) => [tok.bosId!, ...all.slice(i * 64 + 1, (i + 1) * 64)]);
    expect(imatrixChunks(tok, text, 64, 4, data)).toEqual(chunks);

    // Σx² of each distinct linear input, from the forward's own activations, in f64.
    const s = await toGpu(m);
    try {
      const sums = new Map<string, Float64Array>();
      for (const ids of chunks) {
        const copies: Array<{ key: string; roles: readonly LinearRole[]; layer: number; t: GpuTensor<'f32'> }> = [];
        const acts = s.model.activations(1, 64);
        s.model.forward(acts, ids, {
          observe: (rec, layer, roles, x) => {
            const t = GpuTensor.empty(s.ctx, x.shape, 'f32', 'copy');
            rec.encoder.copyBufferToBuffer(x.buffer, 0, t.buffer, 0, x.size * 4);
            copies.push({ key: `${layer}:${roles}`, roles, layer, t });
          },
        });
        for (const c of copies) {
          const x = await c.t.read();
          c.t.destroy();
          const I = x.length / 64;
          const names = linearGgufNames(s.model, c.layer);
          for (const r of c.roles) sums.set(names[r], sumsqColumnsRef(x, I, sums.get(names[r])));
        }
        acts.destroy();
      }
      expect(sums.size).toBe(35);
      let worst = 0;
      for (const [name, want] of sums) {
        const r = maxRel(im.entries.get(name)!.inSum2, want);
        worst = Math.max(worst, r);
        expect(r, name).toBeLessThanOrEqual(1e-4);
      }
      // Layer 0's q/k/v input wholly on the CPU: rmsnorm(embed(ids)).
      const c = s.model.config;
      const embed = await m.file.tensors.get('model.embed_tokens.weight')!.readF32();
      const norm = await m.file.tensors.get('model.layers.0.input_layernorm.weight')!.readF32();
      let want0: Float64Array | undefined;
      for (const ids of chunks) want0 = sumsqColumnsRef(rmsnormForwardRef(embeddingForwardRef(embed, c.hiddenSize, ids), norm, c.rmsNormEps).y, c.hiddenSize, want0);
      const r0 = maxRel(im.entries.get('blk.0.attn_q.weight')!.inSum2, want0!);
      console.log(`sub4 imatrix: max rel error vs forward activations ${worst.toExponential(2)}; layer 0 q/k/v vs the f64 CPU path ${r0.toExponential(2)}`);
      expect(r0).toBeLessThanOrEqual(1e-4);
      for (const n of ['blk.0.attn_k.weight', 'blk.0.attn_v.weight']) expect(im.entries.get(n)!.inSum2).toEqual(im.entries.get('blk.0.attn_q.weight')!.inSum2);
    } finally {
      await s.close();
    }
  });

  it('text too short for 2·ctx tokens is a clear error before any GPU work (exit 1); --ctx below 16 and a missing --out are usage errors (exit 2)', async () => {
    const model = fixture('models/stories260K.gguf');
    if (!model) return;
    const dir = mkdtempSync(join(tmpdir(), 'sub4-imatrix-'));
    const short = join(dir, 'short.txt');
    writeFileSync(short, 'Once upon a time.\n');
    const r = await fail(['imatrix', model, '--data', short, '--ctx', '64', '--out', join(dir, 'x.gguf')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/EvalDataError: .*short\.txt: the text has \d+ tokens; llama\.cpp's imatrix needs at least 2·ctx = 128/);
    const u = await fail(['imatrix', model, '--data', short, '--ctx', '8', '--out', join(dir, 'x.gguf')]);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/--ctx must be an integer ≥ 16/);
    const o = await fail(['imatrix', model, '--data', short]);
    expect(o.code).toBe(2);
    expect(o.stderr).toMatch(/imatrix needs --out/);
  });
});
