// CPU reference of the whole Llama-family forward pass in f64 (the oracle of
// src/model/llama.ts), composed from the per-kernel references: embedding
// (scaled for Gemma), Gemma's output norms and GeGLU, per-layer windows and RoPE bases,
// RMSNorm, linear (+ bias), per-head q/k RMSNorm (Qwen3), half-split RoPE (skipped on NoPE layers), causal GQA attention (sliding
// window), SwiGLU, final norm and LM head (tied or not). Weights come in the
// engine layout by HF name (dequantized f32 for quantized files), so it checks
// the composition, not llama.cpp's arithmetic. Slow: for small models and tests.
import type { LlamaConfig } from '../arch/config.ts';
import { ropeInvFreq } from '../arch/rope_freq.ts';
import { layerRope, layerWindow } from '../arch/layers.ts';
import { normName } from '../arch/params.ts';
import { gegluForwardRef } from './geglu.ts';
import { attentionForwardRef } from './attention.ts';
import { embeddingForwardRef } from './embedding.ts';
import { rmsnormForwardRef } from './rmsnorm.ts';
import { ropeForwardRef } from './rope.ts';
import { swigluForwardRef } from './swiglu.ts';

/** y [N, O] = x [N, I] · wᵀ (+ b), f64 accumulation. */
function linearRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | undefined, N: number, I: number, O: number): Float64Array {
  if (w.length !== O * I) throw new RangeError(`linearRef: W has ${w.length} values, expected ${O}×${I}`);
  const y = new Float64Array(N * O);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      let acc = b ? b[o] : 0;
      for (let i = 0; i < I; i++) acc += x[n * I + i] * w[o * I + i];
      y[n * O + o] = acc;
    }
  return y;
}

const addRef = (a: ArrayLike<number>, b: ArrayLike<number>) => Float64Array.from(a as ArrayLike<number>, (v, i) => v + b[i]);

/**
 * Logits [B·T, V] of B sequences of T tokens (ids sequence-major, positions
 * 0..T−1 in each). `weight(name)` returns a tensor by engine name, or undefined.
 */
export function llamaForwardRef(c: LlamaConfig, weight: (name: string) => Float32Array | undefined, ids: ArrayLike<number>, B: number, T: number): Float64Array {
  const need = (name: string) => {
    const w = weight(name);
    if (!w) throw new RangeError(`llamaForwardRef: no tensor ${name}`);
    return w;
  };
  const N = B * T, C = c.hiddenSize, F = c.intermediateSize, H = c.numHeads, K = c.numKvHeads, D = c.headDim, V = c.vocabSize;
  const pos = Array.from({ length: N }, (_, i) => i % T);
  const inv = ropeInvFreq(D, c.ropeTheta, c.ropeScaling, c.ropeScaling.type === 'freq_factors' ? need('rope_freqs.weight') : undefined);
  const invLocal = c.ropeThetaLocal !== undefined ? ropeInvFreq(D, c.ropeThetaLocal, { type: 'none' }) : inv;
  let x = embeddingForwardRef(need('model.embed_tokens.weight'), C, ids, c.embedScale ?? 1);
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const lin = (inp: ArrayLike<number>, name: string, I: number, O: number) => linearRef(inp, need(`${p}${name}.weight`), weight(`${p}${name}.bias`), N, I, O);
    const xn1 = rmsnormForwardRef(x, need(`${p}input_layernorm.weight`), c.rmsNormEps).y;
    // q/k norms: rows of headDim, so the flat [N, H·D] array is N·H rows for the reference as for the kernel.
    const qkn = (y: Float64Array, r: 'q' | 'k') => (c.qkNorm ? rmsnormForwardRef(y, need(`${p}self_attn.${r}_norm.weight`), c.rmsNormEps).y : y);
    const kind = layerRope(c, l); // null on NoPE layers (SmolLM3); 'local' on Gemma's sliding layers
    const rope = (y: Float64Array) => (kind === null ? y : ropeForwardRef(y, pos, kind === 'local' ? invLocal : inv));
    const post = (y: Float64Array, name: string) => (c.sandwichNorms ? rmsnormForwardRef(y, need(`${p}${name}.weight`), c.rmsNormEps).y : y);
    const q = rope(qkn(lin(xn1, 'self_attn.q_proj', C, H * D), 'q'));
    const k = rope(qkn(lin(xn1, 'self_attn.k_proj', C, K * D), 'k'));
    const v = lin(xn1, 'self_attn.v_proj', C, K * D);
    const { o } = attentionForwardRef(q, k, v, { B, T, H, K, D, window: layerWindow(c, l) });
    const xMid = addRef(x, post(lin(o, 'self_attn.o_proj', H * D, C), 'post_attention_layernorm'));
    const xn2 = rmsnormForwardRef(xMid, need(`${p}${normName(c, 'mlp_norm')}`), c.rmsNormEps).y;
    const h = (c.mlpActivation === 'gelu_tanh' ? gegluForwardRef : swigluForwardRef)(lin(xn2, 'mlp.gate_proj', C, F), lin(xn2, 'mlp.up_proj', C, F));
    x = addRef(xMid, post(lin(h, 'mlp.down_proj', F, C), 'post_feedforward_layernorm'));
  }
  const hidden = rmsnormForwardRef(x, need('model.norm.weight'), c.rmsNormEps).y;
  return linearRef(hidden, need(c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight'), undefined, N, C, V);
}
