// `sub4 imatrix` end to end through the real bin entry, on stories260K with
// tinyshakespeare (--ctx 64 --chunks 4): the file re-read by sub4's imatrix
// reader has llama.cpp's keys, one entry per blk.* 2-D weight of the model with
// counts = 4·64 and n_cols = the weight's input width, and every in_sum2 equals
// Σx² recomputed in f64 from sub4's own forward activations (each linear input
// copied out of the forward and summed on the CPU) and Σx² from an independent
// f64 CPU forward composed from the reference kernels, both within 1e-4 relative. The chunks follow llama.cpp's rule, rebuilt here from
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
import { hfToGguf } from '../../src/arch/names.ts';
import { sumsqColumnsRef } from '../../src/ref/sumsq.ts';
import { embeddingForwardRef } from '../../src/ref/embedding.ts';
import { rmsnormForwardRef } from '../../src/ref/rmsnorm.ts';
import { normName, type LinearRole } from '../../src/arch/params.ts';
import type { LlamaConfig } from '../../src/arch/config.ts';
import { ropeInvFreq } from '../../src/arch/rope_freq.ts';
import { layerWindow } from '../../src/arch/layers.ts';
import { ropeForwardRef } from '../../src/ref/rope.ts';
import { attentionForwardRef } from '../../src/ref/attention.ts';
import { swigluForwardRef } from '../../src/ref/swiglu.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
const fail = (args: string[]) => run('node', [BIN, ...args], { timeout: 120_000 }).then(() => ({ code: 0, stderr: '' }), (e) => e as { code: number; stderr: string });

/**
 * Σx² of every linear input of a plain Llama (stories260K: no biases, no q/k
 * norms, SwiGLU) over windows of T tokens, through an f64 CPU forward composed
 * from the reference kernels (the composition of src/ref/llama.ts, which does
 * not expose layer inputs), by HF weight name.
 */
async function cpuSumsq(c: LlamaConfig, weight: (n: string) => Promise<Float32Array>, windows: number[][], T: number): Promise<Map<string, Float64Array>> {
  const C = c.hiddenSize, F = c.intermediateSize, H = c.numHeads, K = c.numKvHeads, D = c.headDim;
  const w = new Map<string, Float32Array>();
  const need = async (n: string) => w.get(n) ?? (w.set(n, await weight(n)), w.get(n)!);
  const lin = (x: ArrayLike<number>, W: Float32Array, I: number, O: number) => {
    const y = new Float64Array(T * O);
    for (let t = 0; t < T; t++)
      for (let o = 0; o < O; o++) {
        let acc = 0;
        for (let i = 0; i < I; i++) acc += x[t * I + i] * W[o * I + i];
        y[t * O + o] = acc;
      }
    return y;
  };
  const inv = ropeInvFreq(D, c.ropeTheta, c.ropeScaling);
  const pos = Array.from({ length: T }, (_, i) => i);
  const sums = new Map<string, Float64Array>();
  const add = (names: string[], x: Float64Array, I: number) => {
    for (const n of names) sums.set(n, sumsqColumnsRef(x, I, sums.get(n)));
  };
  for (const ids of windows) {
    let x = embeddingForwardRef(await need('model.embed_tokens.weight'), C, ids);
    for (let l = 0; l < c.numLayers; l++) {
      const p = `model.layers.${l}.`;
      const W = (n: string) => need(`${p}${n}.weight`);
      const xn1 = rmsnormForwardRef(x, await need(`${p}input_layernorm.weight`), c.rmsNormEps).y;
      add(['q_proj', 'k_proj', 'v_proj'].map((r) => `${p}self_attn.${r}.weight`), xn1, C);
      const q = ropeForwardRef(lin(xn1, await W('self_attn.q_proj'), C, H * D), pos, inv);
      const k = ropeForwardRef(lin(xn1, await W('self_attn.k_proj'), C, K * D), pos, inv);
      const v = lin(xn1, await W('self_attn.v_proj'), C, K * D);
      const { o } = attentionForwardRef(q, k, v, { B: 1, T, H, K, D, window: layerWindow(c, l) });
      add([`${p}self_attn.o_proj.weight`], o, H * D);
      const ao = lin(o, await W('self_attn.o_proj'), H * D, C);
      const xMid = x.map((v, i) => v + ao[i]);
      const xn2 = rmsnormForwardRef(xMid, await need(`${p}${normName(c, 'mlp_norm')}`), c.rmsNormEps).y;
      add([`${p}mlp.gate_proj.weight`, `${p}mlp.up_proj.weight`], xn2, C);
      const h = swigluForwardRef(lin(xn2, await W('mlp.gate_proj'), C, F), lin(xn2, await W('mlp.up_proj'), C, F));
      add([`${p}mlp.down_proj.weight`], h, F);
      const mo = lin(h, await W('mlp.down_proj'), F, C);
      x = xMid.map((v, i) => v + mo[i]);
    }
  }
  return sums;
}

function maxRel(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), 1e-30));
  return m;
}

describe('sub4 imatrix', () => {
  for (const [label, rel, layers] of [['stories260K', 'models/stories260K.gguf', 5], ['random-llama-256', 'models/random-llama-256/random-llama-256-F32.gguf', 2]] as const)
  it(`${label}, ctx 64 × 4 chunks: every blk weight, counts 256, Σx² equal to the forward's own inputs and to an f64 CPU forward (1e-5)`, { timeout: 120_000 }, async () => {
    const model = fixture(rel);
    const data = fixture('data/tinyshakespeare/input.txt');
    if (!model || !data || !gpuReady()) return;
    const dir = mkdtempSync(join(tmpdir(), 'sub4-imatrix-'));
    const out = join(dir, `${label}.imatrix.gguf`);
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
    expect(weights.length).toBe(layers * 7);
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
      expect(sums.size).toBe(layers * 7);
      let worst = 0;
      for (const [name, want] of sums) {
        const r = maxRel(im.entries.get(name)!.inSum2, want);
        worst = Math.max(worst, r);
        expect(r, name).toBeLessThanOrEqual(1e-4);
      }
      // Every entry against a wholly independent f64 CPU forward of the same chunks.
      const c = s.model.config;
      expect([c.qkvBias, c.oBias, c.mlpBias, c.qkNorm ?? false, c.sandwichNorms ?? false, c.mlpActivation ?? 'silu']).toEqual([false, false, false, false, false, 'silu']);
      const cpu = await cpuSumsq(c, (n) => m.file.tensors.get(n)!.readF32(), chunks, 64);
      expect(cpu.size).toBe(layers * 7);
      let worstCpu = 0;
      for (const [hf, want] of cpu) {
        const name = hfToGguf(hf, c.architecture)!;
        const r = maxRel(im.entries.get(name)!.inSum2, want);
        worstCpu = Math.max(worstCpu, r);
        expect(r, name).toBeLessThanOrEqual(1e-5);
      }
      console.log(`sub4 imatrix on ${label}: max rel error vs the forward's own activations ${worst.toExponential(2)}; vs an f64 CPU forward ${worstCpu.toExponential(2)}`);
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
