// HF ↔ GGUF tensor names and the q/k rotary row permutation: hand-checked
// tiny cases, inverse property, and the property that justifies it (half-split
// RoPE on HF rows = interleaved RoPE on GGUF rows, row for row).
import { describe, expect, it } from 'vitest';
import {
  applyRowOrder,
  ggufQkInterleaved,
  ggufToHf,
  hfToGguf,
  permuteQK,
  qkKind,
  qkRowOrder,
  unpermuteQK,
} from '../../src/arch/names.ts';

describe('tensor names', () => {
  const pairs: [string, string][] = [
    ['model.embed_tokens.weight', 'token_embd.weight'],
    ['model.norm.weight', 'output_norm.weight'],
    ['lm_head.weight', 'output.weight'],
    ['model.layers.0.input_layernorm.weight', 'blk.0.attn_norm.weight'],
    ['model.layers.3.self_attn.q_proj.weight', 'blk.3.attn_q.weight'],
    ['model.layers.3.self_attn.q_proj.bias', 'blk.3.attn_q.bias'],
    ['model.layers.12.self_attn.k_proj.weight', 'blk.12.attn_k.weight'],
    ['model.layers.12.self_attn.v_proj.bias', 'blk.12.attn_v.bias'],
    ['model.layers.4.self_attn.o_proj.weight', 'blk.4.attn_output.weight'],
    ['model.layers.4.post_attention_layernorm.weight', 'blk.4.ffn_norm.weight'],
    ['model.layers.31.mlp.gate_proj.weight', 'blk.31.ffn_gate.weight'],
    ['model.layers.31.mlp.up_proj.weight', 'blk.31.ffn_up.weight'],
    ['model.layers.31.mlp.down_proj.weight', 'blk.31.ffn_down.weight'],
  ];
  it('maps both ways', () => {
    for (const [hf, gguf] of pairs) {
      expect(hfToGguf(hf)).toBe(gguf);
      expect(ggufToHf(gguf)).toBe(hf);
    }
  });
  it('returns null for tensors without a counterpart or malformed names', () => {
    for (const n of ['model.layers.0.self_attn.rotary_emb.inv_freq', 'model.layers.01.mlp.up_proj.weight', 'model.layers.x.mlp.up_proj.weight', 'model.embed_tokens.scales', 'blk.0.attn_q.weight'])
      expect(hfToGguf(n), n).toBeNull();
    for (const n of ['rope_freqs.weight', 'blk.0.attn_qkv.weight', 'model.norm.weight', 'blk..attn_q.weight']) expect(ggufToHf(n), n).toBeNull();
  });
  it('knows which tensors are rotary projections', () => {
    expect(qkKind('model.layers.2.self_attn.q_proj.bias')).toBe('q');
    expect(qkKind('blk.2.attn_k.weight')).toBe('k');
    expect(qkKind('blk.2.attn_v.weight')).toBeNull();
    expect(qkKind('token_embd.weight')).toBeNull();
    expect(ggufQkInterleaved('llama')).toBe(true);
    expect(ggufQkInterleaved('mistral')).toBe(true);
    expect(ggufQkInterleaved('qwen2')).toBe(false);
  });
});

describe('q/k permutation', () => {
  const iota = (n: number) => Float32Array.from({ length: n }, (_, i) => i);

  it('matches hand-worked cases of reshape(n_head, 2, D/2, in).swapaxes(1, 2)', () => {
    // 1 head, D = 8: interleaved row 2i+j takes half-split row j·4+i.
    expect([...permuteQK(iota(8), 8, 1, 1)]).toEqual([0, 4, 1, 5, 2, 6, 3, 7]);
    // 2 heads, D = 4: per head [0, 2, 1, 3].
    expect([...permuteQK(iota(8), 8, 1, 2)]).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
    // whole rows move: 2 heads of D = 4, 2 columns
    expect([...permuteQK(iota(16), 8, 2, 2)]).toEqual([0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15]);
    expect([...unpermuteQK(Float32Array.from([0, 4, 1, 5, 2, 6, 3, 7]), 8, 1, 1)]).toEqual([...iota(8)]);
  });

  it('unpermute ∘ permute = identity = permute ∘ unpermute', () => {
    for (const [rows, cols, heads] of [[64, 64, 8], [32, 64, 4], [576, 3, 9], [6, 5, 3], [2, 1, 1]]) {
      const w = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 12.9898) * 43758.5453);
      expect(unpermuteQK(permuteQK(w, rows, cols, heads), rows, cols, heads)).toEqual(w);
      expect(permuteQK(unpermuteQK(w, rows, cols, heads), rows, cols, heads)).toEqual(w);
      // D = 2 is the one size where both layouts coincide
      if (rows / heads > 2) expect(permuteQK(w, rows, cols, heads)).not.toEqual(w);
      else expect(permuteQK(w, rows, cols, heads)).toEqual(w);
    }
  });

  it('moves quantized byte rows intact', () => {
    const rowBytes = 18; // one Q4_0 block
    const bytes = Uint8Array.from({ length: 8 * rowBytes }, (_, i) => i);
    const out = applyRowOrder(bytes, rowBytes, qkRowOrder(8, 2, 'hf_to_gguf'));
    expect([...out.subarray(rowBytes, 2 * rowBytes)]).toEqual([...bytes.subarray(2 * rowBytes, 3 * rowBytes)]);
  });

  it('rejects shapes that do not split into even heads', () => {
    expect(() => permuteQK(iota(12), 12, 1, 4)).toThrow(RangeError); // D = 3
    expect(() => permuteQK(iota(10), 10, 1, 3)).toThrow(RangeError);
    expect(() => permuteQK(iota(7), 8, 1, 2)).toThrow(RangeError);
  });

  it('half-split RoPE on HF rows equals interleaved RoPE on the permuted rows', () => {
    const nHead = 3, D = 8, cols = 5, rows = nHead * D, pos = 7, theta = 10000;
    const w = Float32Array.from({ length: rows * cols }, (_, i) => Math.cos(i * 0.37));
    const x = Float32Array.from({ length: cols }, (_, i) => 1 - i * 0.3);
    const matvec = (m: Float32Array) => Float64Array.from({ length: rows }, (_, r) => x.reduce((a, xv, c) => a + m[r * cols + c] * xv, 0));
    const angle = (i: number) => pos * theta ** ((-2 * i) / D);
    const ropeHalf = (q: Float64Array) => q.map((_, r) => {
      const h = Math.floor(r / D), k = r % D, i = k % (D / 2), a = angle(i), base = h * D;
      return k < D / 2 ? q[base + i] * Math.cos(a) - q[base + i + D / 2] * Math.sin(a) : q[base + i + D / 2] * Math.cos(a) + q[base + i] * Math.sin(a);
    });
    const ropeInterleaved = (q: Float64Array) => q.map((_, r) => {
      const h = Math.floor(r / D), k = r % D, i = k >> 1, a = angle(i), base = h * D + 2 * i;
      return k % 2 === 0 ? q[base] * Math.cos(a) - q[base + 1] * Math.sin(a) : q[base + 1] * Math.cos(a) + q[base] * Math.sin(a);
    });
    const hfOut = ropeHalf(matvec(w));
    const ggufOut = ropeInterleaved(matvec(permuteQK(w, rows, cols, nHead)));
    const order = qkRowOrder(rows, nHead, 'hf_to_gguf');
    for (let r = 0; r < rows; r++) expect(ggufOut[r]).toBeCloseTo(hfOut[order[r]], 12);
    // and with the wrong (unpermuted) layout the outputs differ
    const wrong = ropeInterleaved(matvec(w));
    expect(Math.max(...wrong.map((v, r) => Math.abs(v - hfOut[order[r]])))).toBeGreaterThan(0.1);
  });
});
