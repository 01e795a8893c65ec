// CPU reference of the training step of the whole Llama-family model in f64:
// the forward of src/ref/llama.ts with LoRA adapters on the linear layers
// (y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ), the masked mean next-token cross-entropy, and
// the backward composed by hand from the per-kernel references (RMSNorm,
// per-head q/k RMSNorm, attention, RoPE, SwiGLU / GeGLU, Gemma's output
// norms, cross-entropy, LoRA). A hand-composed reverse pass
// rather than a generic autodiff: every piece is an already-tested oracle, and
// the composition (residual sums, q/k/v and gate/up branch sums, GQA layout)
// is what the GPU backward must match. Finite differences of llamaLossRef
// check this reference itself.
// Linear layers are given as effective f64 weights W [O, I], so the reference
// returns dL/dW; quantGradsRef turns that into the scale/offset gradients of a
// QTensor (dW[o,k] = dscale[o,g]·q[o,k] + doffset[o,g] by the chain rule), and
// parametrizationBackwardRef (src/ref/parametrize.ts) into dθ.
import type { LlamaConfig } from '../arch/config.ts';
import { ropeInvFreq } from '../arch/rope_freq.ts';
import { layerRope, layerWindow } from '../arch/layers.ts';
import { normName } from '../arch/params.ts';
import { gegluBackwardRef, gegluForwardRef } from './geglu.ts';
import { getCode, groupsPerRow, type QTensor } from '../quant/qtensor.ts';
import { attentionBackwardRef, attentionForwardRef } from './attention.ts';
import { crossEntropyBackwardRef, crossEntropyForwardRef } from './cross_entropy.ts';
import { embeddingForwardRef } from './embedding.ts';
import { loraBackwardRef, type LoraRef } from './qlinear.ts';
import { rmsnormBackwardRef, rmsnormForwardRef } from './rmsnorm.ts';
import { ropeBackwardRef, ropeForwardRef } from './rope.ts';
import { swigluBackwardRef, swigluForwardRef } from './swiglu.ts';

export interface RefLinear {
  /** Effective weight [O, I] (dequantized with the current scales/offsets). */
  w: ArrayLike<number>;
  bias?: ArrayLike<number>;
  lora?: LoraRef;
}

export interface RefModel {
  config: LlamaConfig;
  /** Embedding, norm weights, rope_freqs and the LM head by engine name. */
  tensor(name: string): ArrayLike<number>;
  /** The linear layer whose weight has this engine name. */
  linear(name: string): RefLinear;
}

export interface RefBatch {
  ids: ArrayLike<number>;
  targets: ArrayLike<number>;
  mask: ArrayLike<number>;
  B: number;
  T: number;
}

export interface RefGrads {
  /** Mean loss over counted rows. */
  loss: number;
  count: number;
  /** dL/dW [O, I] by linear weight name. */
  dW: Map<string, Float64Array>;
  /** LoRA factor gradients by linear weight name. */
  dLora: Map<string, { da: Float64Array; db: Float64Array }>;
  /** dL/dw of every RMSNorm weight by name. */
  dNorm: Map<string, Float64Array>;
}

/** y [N, O] = x [N, I]·Wᵀ + b + s·(x·Aᵀ)·Bᵀ. */
function linear(x: ArrayLike<number>, L: RefLinear, N: number, I: number, O: number): Float64Array {
  if (L.w.length !== O * I) throw new RangeError(`llama reference: W has ${L.w.length} values, expected ${O}×${I}`);
  const y = new Float64Array(N * O);
  const R = L.lora?.rank ?? 0;
  const xa = new Float64Array(R);
  for (let n = 0; n < N; n++) {
    for (let r = 0; r < R; r++) {
      let s = 0;
      for (let i = 0; i < I; i++) s += x[n * I + i] * L.lora!.a[r * I + i];
      xa[r] = s;
    }
    for (let o = 0; o < O; o++) {
      let acc = L.bias ? L.bias[o] : 0;
      for (let i = 0; i < I; i++) acc += x[n * I + i] * L.w[o * I + i];
      let l = 0;
      for (let r = 0; r < R; r++) l += xa[r] * L.lora!.b[o * R + r];
      y[n * O + o] = acc + (R ? L.lora!.scale * l : 0);
    }
  }
  return y;
}

/** dx = dy·W + s·(dy·B)·A; dW = dyᵀ·x; LoRA factor gradients. */
function linearBack(dy: Float64Array, x: ArrayLike<number>, L: RefLinear, N: number, I: number, O: number) {
  const dx = new Float64Array(N * I);
  const dW = new Float64Array(O * I);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      const g = dy[n * O + o];
      for (let i = 0; i < I; i++) {
        dx[n * I + i] += g * L.w[o * I + i];
        dW[o * I + i] += g * x[n * I + i];
      }
    }
  let lora: { da: Float64Array; db: Float64Array } | undefined;
  if (L.lora) {
    const { rank: R, a, b, scale } = L.lora;
    for (let n = 0; n < N; n++)
      for (let r = 0; r < R; r++) {
        let u = 0;
        for (let o = 0; o < O; o++) u += dy[n * O + o] * b[o * R + r];
        for (let i = 0; i < I; i++) dx[n * I + i] += scale * u * a[r * I + i];
      }
    lora = loraBackwardRef(x, dy, N, I, O, L.lora);
  }
  return { dx, dW, lora };
}

const add = (a: ArrayLike<number>, b: ArrayLike<number>) => Float64Array.from(a as ArrayLike<number>, (v, i) => v + b[i]);
const addInto = (a: Float64Array, b: ArrayLike<number>) => {
  for (let i = 0; i < a.length; i++) a[i] += b[i];
};

const NAMES = { q: 'self_attn.q_proj', k: 'self_attn.k_proj', v: 'self_attn.v_proj', o: 'self_attn.o_proj', gate: 'mlp.gate_proj', up: 'mlp.up_proj', down: 'mlp.down_proj' } as const;

function dims(c: LlamaConfig) {
  return { C: c.hiddenSize, F: c.intermediateSize, H: c.numHeads, K: c.numKvHeads, D: c.headDim, V: c.vocabSize };
}

/** The forward with everything the backward reads. */
function forwardTape(m: RefModel, batch: RefBatch) {
  const c = m.config;
  const { B, T } = batch;
  const { C, F, H, K, D, V } = dims(c);
  const N = B * T;
  const pos = Array.from({ length: N }, (_, i) => i % T);
  const inv = ropeInvFreq(D, c.ropeTheta, c.ropeScaling, c.ropeScaling.type === 'freq_factors' ? m.tensor('rope_freqs.weight') : undefined);
  const invLocal = c.ropeThetaLocal !== undefined ? ropeInvFreq(D, c.ropeThetaLocal, { type: 'none' }) : inv;
  const att = (l: number) => ({ B, T, H, K, D, window: layerWindow(c, l) });
  const layers = [];
  let x: Float64Array = embeddingForwardRef(m.tensor('model.embed_tokens.weight'), C, batch.ids, c.embedScale ?? 1);
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const L = (r: keyof typeof NAMES) => m.linear(`${p}${NAMES[r]}.weight`);
    const xn1 = rmsnormForwardRef(x, m.tensor(`${p}input_layernorm.weight`), c.rmsNormEps).y;
    const qRaw = linear(xn1, L('q'), N, C, H * D);
    const kRaw = linear(xn1, L('k'), N, C, K * D);
    const qkn = (y: Float64Array, r: 'q' | 'k') => (c.qkNorm ? rmsnormForwardRef(y, m.tensor(`${p}self_attn.${r}_norm.weight`), c.rmsNormEps).y : y);
    const kind = layerRope(c, l); // null on NoPE layers (SmolLM3); 'local' on Gemma's sliding layers
    const rope = (y: Float64Array) => (kind === null ? y : ropeForwardRef(y, pos, kind === 'local' ? invLocal : inv));
    const post = (y: Float64Array, name: string) => (c.sandwichNorms ? rmsnormForwardRef(y, m.tensor(`${p}${name}.weight`), c.rmsNormEps).y : y);
    const q = rope(qkn(qRaw, 'q'));
    const k = rope(qkn(kRaw, 'k'));
    const v = linear(xn1, L('v'), N, C, K * D);
    const { o } = attentionForwardRef(q, k, v, att(l));
    const attnOut = linear(o, L('o'), N, H * D, C);
    const xMid = add(x, post(attnOut, 'post_attention_layernorm'));
    const xn2 = rmsnormForwardRef(xMid, m.tensor(`${p}${normName(c, 'mlp_norm')}`), c.rmsNormEps).y;
    const g = linear(xn2, L('gate'), N, C, F);
    const u = linear(xn2, L('up'), N, C, F);
    const h = (c.mlpActivation === 'gelu_tanh' ? gegluForwardRef : swigluForwardRef)(g, u);
    const mlpOut = linear(h, L('down'), N, F, C);
    layers.push({ x, xn1, qRaw, kRaw, q, k, v, o, attnOut, xMid, xn2, g, u, h, mlpOut });
    x = add(xMid, post(mlpOut, 'post_feedforward_layernorm'));
  }
  const hidden = rmsnormForwardRef(x, m.tensor('model.norm.weight'), c.rmsNormEps).y;
  const head = m.tensor(c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
  const z = linear(hidden, { w: head }, N, C, V);
  return { N, pos, inv, invLocal, att, layers, xOut: x, hidden, head, z };
}

/** Mean masked next-token cross-entropy of the batch. */
export function llamaLossRef(m: RefModel, batch: RefBatch): number {
  const t = forwardTape(m, batch);
  return crossEntropyForwardRef(t.z, t.N, m.config.vocabSize, batch.targets, batch.mask).mean;
}

/** Loss and its gradients with respect to every linear weight, LoRA factor and norm weight. */
export function llamaBackwardRef(m: RefModel, batch: RefBatch): RefGrads {
  const c = m.config;
  const { C, F, H, K, D, V } = dims(c);
  const t = forwardTape(m, batch);
  const N = t.N;
  const ce = crossEntropyForwardRef(t.z, N, V, batch.targets, batch.mask);
  const dz = crossEntropyBackwardRef(t.z, N, V, batch.targets, batch.mask, 1 / ce.count);
  const out: RefGrads = { loss: ce.mean, count: ce.count, dW: new Map(), dLora: new Map(), dNorm: new Map() };
  const back = (name: string, dy: Float64Array, x: ArrayLike<number>, I: number, O: number) => {
    const r = linearBack(dy, x, m.linear(name), N, I, O);
    out.dW.set(name, r.dW);
    if (r.lora) out.dLora.set(name, r.lora);
    return r.dx;
  };
  const norm = (name: string, dy: Float64Array, x: ArrayLike<number>) => {
    const r = rmsnormBackwardRef(dy, x, m.tensor(name), c.rmsNormEps);
    out.dNorm.set(name, r.dw);
    return r.dx;
  };

  const dhidden = linearBack(dz, t.hidden, { w: t.head }, N, C, V).dx;
  let dres = norm('model.norm.weight', dhidden, t.xOut);
  for (let l = c.numLayers - 1; l >= 0; l--) {
    const s = t.layers[l];
    const p = `model.layers.${l}.`;
    const n = (r: keyof typeof NAMES) => `${p}${NAMES[r]}.weight`;
    // Gemma's output norms: the branch gradient goes back through them (the residual's stays as it is).
    const post = (dy: Float64Array, x: Float64Array, name: string) => (c.sandwichNorms ? norm(`${p}${name}.weight`, dy, x) : dy);
    const dh = back(n('down'), post(dres, s.mlpOut, 'post_feedforward_layernorm'), s.h, F, C);
    const { dg, du } = (c.mlpActivation === 'gelu_tanh' ? gegluBackwardRef : swigluBackwardRef)(dh, s.g, s.u);
    const dxn2 = back(n('gate'), dg, s.xn2, C, F);
    addInto(dxn2, back(n('up'), du, s.xn2, C, F));
    const dMid = add(dres, norm(`${p}${normName(c, 'mlp_norm')}`, dxn2, s.xMid));
    const dO = back(n('o'), post(dMid, s.attnOut, 'post_attention_layernorm'), s.o, H * D, C);
    const { dq, dk, dv } = attentionBackwardRef(s.q, s.k, s.v, dO, t.att(l));
    // q/k norms (Qwen3): back through the per-head RMSNorm (its weight's gradient recorded like any norm's).
    const qkn = (dy: Float64Array, raw: Float64Array, r: 'q' | 'k') => (c.qkNorm ? norm(`${p}self_attn.${r}_norm.weight`, dy, raw) : dy);
    const kind = layerRope(c, l);
    const unrope = (dy: Float64Array) => (kind === null ? dy : ropeBackwardRef(dy, t.pos, kind === 'local' ? t.invLocal : t.inv));
    const dxn1 = back(n('q'), qkn(unrope(dq), s.qRaw, 'q'), s.xn1, C, H * D);
    addInto(dxn1, back(n('k'), qkn(unrope(dk), s.kRaw, 'k'), s.xn1, C, K * D));
    addInto(dxn1, back(n('v'), dv, s.xn1, C, K * D));
    dres = add(dMid, norm(`${p}input_layernorm.weight`, dxn1, s.x));
  }
  return out;
}

/** Effective weight [O, I] = scale·q + offset per group, in f64 (scale/offset may be f64 views of θ). */
export function dequantRef(q: QTensor, scale: ArrayLike<number> = q.scale, offset: ArrayLike<number> = q.offset): Float64Array {
  const ng = groupsPerRow(q.cols, q.groupSize);
  const w = new Float64Array(q.rows * q.cols);
  for (let o = 0; o < q.rows; o++)
    for (let k = 0; k < q.cols; k++) {
      const g = o * ng + Math.floor(k / q.groupSize);
      w[o * q.cols + k] = scale[g] * getCode(q, o, k) + offset[g];
    }
  return w;
}

/** dscale[o,g] = Σ_{k∈g} dW[o,k]·q[o,k], doffset[o,g] = Σ_{k∈g} dW[o,k]. */
export function quantGradsRef(dW: ArrayLike<number>, q: QTensor): { dscale: Float64Array; doffset: Float64Array } {
  const ng = groupsPerRow(q.cols, q.groupSize);
  const dscale = new Float64Array(q.rows * ng);
  const doffset = new Float64Array(q.rows * ng);
  for (let o = 0; o < q.rows; o++)
    for (let k = 0; k < q.cols; k++) {
      const g = o * ng + Math.floor(k / q.groupSize);
      dscale[g] += dW[o * q.cols + k] * getCode(q, o, k);
      doffset[g] += dW[o * q.cols + k];
    }
  return { dscale, doffset };
}
