// MLX export (src/export/mlx.ts) read back by an independent reader written from
// the published format (tests/helpers/mlx_reader.ts): every code, scale and bias
// of every packed layer, at 2–8 bits (3, 5 and 6 straddling u32 words), equals
// sub4's QTensor, so the dequantized weights are sub4's exactly; layers
// MLX cannot hold are the F32 of their grid; config.json carries the
// quantization with per-layer overrides; the mlx-lm adapter holds PEFT's factors
// transposed with scale = alpha / rank; the typed refusals.
import { describe, expect, it } from 'vitest';
import { ExportError } from '../../src/export/target.ts';
import { mlxLayoutProblem, planMlxExport, writeMlxFolder } from '../../src/export/mlx.ts';
import type { LoraSet } from '../../src/io/lora/set.ts';
import { rng } from '../../src/gpu/random.ts';
import { dequantizeQ, emptyQTensor, getCode, groupsPerRow, setCode, type QBits, type QTensor } from '../../src/quant/qtensor.ts';
import { memoryTarget } from '../helpers/export_target.ts';
import { f32Of, mlxCodes, mlxDequantize, readSafetensorsFile } from '../helpers/mlx_reader.ts';

function randomQ(O: number, I: number, bits: QBits, gs: number, seed: number): QTensor {
  const r = rng(seed);
  const q = emptyQTensor(O, I, bits, gs);
  for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) setCode(q, o, i, Math.floor(r() * (1 << bits)));
  // Free floats, negative scales too (MLX's own quantizer makes them): nothing here needs a zero-point grid.
  for (let g = 0; g < q.scale.length; g++) {
    q.scale[g] = Math.fround((r() - 0.3) * 0.05);
    q.offset[g] = Math.fround((r() - 0.5) * 0.4);
  }
  return q;
}

const CONFIG = { model_type: 'llama', num_hidden_layers: 2, hidden_size: 64 };

describe('MLX export', () => {
  for (const [bits, gs] of [[3, 64], [4, 32], [5, 128], [6, 64], [2, 32], [8, 128]] as const)
    it(`${bits}-bit groups of ${gs}: the independent reader recovers every code, scale and bias`, async () => {
      const linears = new Map([
        ['model.layers.0.self_attn.q_proj.weight', randomQ(24, 256, bits, gs, bits * 10 + 1)],
        ['model.layers.1.mlp.down_proj.weight', randomQ(17, 128, bits, gs, bits * 10 + 2)],
      ]);
      const target = memoryTarget();
      const res = await writeMlxFolder(target, { config: CONFIG, linears, tensors: [] });
      expect(res.files).toEqual(['model.safetensors', 'config.json']);
      const { tensors, metadata } = readSafetensorsFile(target.files.get('model.safetensors')!);
      expect(metadata.format).toBe('mlx');
      const cfg = JSON.parse(target.text('config.json'));
      expect(cfg.quantization).toEqual({ group_size: gs, bits, mode: 'affine' });
      expect(cfg.quantization_config).toEqual(cfg.quantization);
      for (const [name, q] of linears) {
        const m = name.replace(/\.weight$/, '');
        const w = tensors.get(`${m}.weight`)!;
        expect(w.shape).toEqual([q.rows, (q.cols * bits) / 32]);
        const { codes, cols } = mlxCodes(w, bits);
        expect(cols).toBe(q.cols);
        let bad = 0;
        for (let r = 0; r < q.rows; r++) for (let i = 0; i < q.cols; i++) if (codes[r * cols + i] !== getCode(q, r, i)) bad++;
        expect(bad).toBe(0);
        expect(tensors.get(`${m}.scales`)!.shape).toEqual([q.rows, groupsPerRow(q.cols, gs)]);
        expect(f32Of(tensors.get(`${m}.scales`)!)).toEqual(q.scale);
        expect(f32Of(tensors.get(`${m}.biases`)!)).toEqual(q.offset);
        const got = mlxDequantize(w, tensors.get(`${m}.scales`)!, tensors.get(`${m}.biases`)!, bits, gs);
        expect(got).toEqual(dequantizeQ(q));
        const unfused = mlxDequantize(w, tensors.get(`${m}.scales`)!, tensors.get(`${m}.biases`)!, bits, gs, false);
        let maxAbs = 0;
        for (let i = 0; i < got.length; i++) maxAbs = Math.max(maxAbs, Math.abs(unfused[i] - got[i]));
        console.log(`${bits}-bit g${gs} ${name}: ${got.length} weights equal sub4's; an unfused f32 evaluation differs by ≤ ${maxAbs.toExponential(2)}`);
      }
    });

  it('mixed grids: the majority is the default, the rest per-module overrides; layers MLX cannot hold stay F32', async () => {
    const linears = new Map([
      ['model.layers.0.self_attn.q_proj.weight', randomQ(8, 64, 4, 32, 1)],
      ['model.layers.0.self_attn.k_proj.weight', randomQ(8, 64, 4, 32, 2)],
      ['model.layers.0.mlp.up_proj.weight', randomQ(8, 64, 3, 64, 3)],
      ['model.layers.0.mlp.down_proj.weight', randomQ(8, 172, 4, 32, 4)], // 172 is no multiple of 32
      ['model.layers.1.mlp.down_proj.weight', randomQ(8, 64, 4, 16, 5)], // groups of 16 (K-quant sub-blocks)
    ]);
    const plan = planMlxExport(linears);
    expect(plan.dense.map((d) => d.name)).toEqual(['model.layers.0.mlp.down_proj.weight', 'model.layers.1.mlp.down_proj.weight']);
    expect(plan.dense[1].why).toContain('groups of 16');
    const target = memoryTarget();
    await writeMlxFolder(target, { config: CONFIG, linears, tensors: [{ name: 'model.norm.weight', shape: [64], read: async () => new Float32Array(64).fill(1.5) }] });
    const cfg = JSON.parse(target.text('config.json'));
    expect(cfg.quantization).toEqual({ group_size: 32, bits: 4, mode: 'affine', 'model.layers.0.mlp.up_proj': { group_size: 64, bits: 3, mode: 'affine' } });
    const { tensors } = readSafetensorsFile(target.files.get('model.safetensors')!);
    for (const d of plan.dense) {
      expect(tensors.has(d.name.replace(/weight$/, 'scales'))).toBe(false);
      expect(f32Of(tensors.get(d.name)!)).toEqual(dequantizeQ(linears.get(d.name)!));
    }
    expect(f32Of(tensors.get('model.norm.weight')!)).toEqual(new Float32Array(64).fill(1.5));
  });

  it('LoRA factors: an mlx-lm adapter with lora_a [in, r], lora_b [r, out], scale alpha / rank', async () => {
    const r = rng(9);
    const rand = (n: number) => Float32Array.from({ length: n }, () => r() - 0.5);
    const set: LoraSet = {
      rank: 2,
      alpha: 8,
      factors: [
        { layer: 1, role: 'q', a: rand(2 * 64), b: rand(8 * 2), inFeatures: 64, outFeatures: 8 },
        { layer: 1, role: 'down', a: rand(2 * 64), b: rand(8 * 2), inFeatures: 64, outFeatures: 8 },
      ],
    };
    const target = memoryTarget();
    const res = await writeMlxFolder(target, { config: CONFIG, linears: new Map([['model.layers.0.self_attn.q_proj.weight', randomQ(8, 64, 4, 32, 1)]]), tensors: [], lora: { set, numLayers: 2, base: 'org/base' } });
    expect(res.files).toEqual(['model.safetensors', 'adapters.safetensors', 'adapter_config.json', 'config.json']);
    const ac = JSON.parse(target.text('adapter_config.json'));
    expect(ac).toMatchObject({ fine_tune_type: 'lora', num_layers: 1, lora_parameters: { rank: 2, scale: 4, dropout: 0 } });
    expect([...ac.lora_parameters.keys].sort()).toEqual(['mlp.down_proj', 'self_attn.q_proj']);
    const { tensors } = readSafetensorsFile(target.files.get('adapters.safetensors')!);
    const a = tensors.get('model.layers.1.self_attn.q_proj.lora_a')!;
    const b = tensors.get('model.layers.1.self_attn.q_proj.lora_b')!;
    expect(a.shape).toEqual([64, 2]);
    expect(b.shape).toEqual([2, 8]);
    const f = set.factors[0];
    for (let i = 0; i < 64; i++) for (let k = 0; k < 2; k++) expect(f32Of(a)[i * 2 + k]).toBe(f.a[k * 64 + i]);
    for (let k = 0; k < 2; k++) for (let o = 0; o < 8; o++) expect(f32Of(b)[k * 8 + o]).toBe(f.b[o * 2 + k]);
  });

  it('refuses, typed: no quantized layer, no layer on an MLX grid, 7-bit codes', () => {
    expect(() => planMlxExport(new Map())).toThrow(ExportError);
    expect(() => planMlxExport(new Map([['x.weight', randomQ(4, 48, 4, 48, 1)]]))).toThrow(/no layer fits an MLX affine grid \(x\.weight: one group per row of 48/);
    expect(mlxLayoutProblem({ rows: 4, cols: 64, bits: 7 as QBits, groupSize: 32 })).toMatch(/7-bit codes/);
    expect(mlxLayoutProblem({ rows: 4, cols: 64, bits: 4, groupSize: 64 })).toBeNull();
  });
});
