// The parameter table of a Llama-family model: every tensor the forward reads,
// with its engine (HF) name, kind, role, layer and shape, derived from the
// config alone. The weight loader, the planner, the exporters and the adapter
// formats all take names and shapes from here, so none is kept by hand elsewhere.
import type { LlamaConfig } from './config.ts';

/** The seven linear layers of a block, in the order the forward uses them. */
export const LINEAR_ROLES = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
export type LinearRole = (typeof LINEAR_ROLES)[number];

/**
 * Per-layer norm weights: attn_norm / mlp_norm [C] (the inputs of attention
 * and MLP); q_norm / k_norm [headDim] (config.qkNorm); attn_post_norm /
 * mlp_post_norm [C] on the branch outputs (config.sandwichNorms).
 */
export type NormRole = 'attn_norm' | 'mlp_norm' | 'q_norm' | 'k_norm' | 'attn_post_norm' | 'mlp_post_norm';

/** HF name (after model.layers.N.) of each per-layer norm; Gemma's MLP input norm has its own name. */
export function normName(c: LlamaConfig, role: NormRole): string {
  switch (role) {
    case 'attn_norm':
      return 'input_layernorm.weight';
    case 'mlp_norm':
      return c.sandwichNorms ? 'pre_feedforward_layernorm.weight' : 'post_attention_layernorm.weight';
    case 'attn_post_norm':
      return 'post_attention_layernorm.weight';
    case 'mlp_post_norm':
      return 'post_feedforward_layernorm.weight';
    case 'q_norm':
      return 'self_attn.q_norm.weight';
    case 'k_norm':
      return 'self_attn.k_norm.weight';
  }
}

export type ParamKind = 'embedding' | 'norm' | 'linear' | 'bias' | 'rope_freqs';

export interface ParamEntry {
  /** Engine (HF) tensor name as LoadedModel.tensors has it. */
  name: string;
  kind: ParamKind;
  /** Linear role (weights and their biases); null for norms and global tensors. */
  role: LinearRole | NormRole | 'embed' | 'final_norm' | 'lm_head' | 'rope_freqs';
  layer: number | null;
  /** [out, in] for linear weights, [n] for vectors, [V, C] for the embedding. */
  shape: number[];
}

/** HF suffix, shape and bias flag of each linear role. */
function linearTable(c: LlamaConfig): Record<LinearRole, { suffix: string; shape: [number, number]; bias: boolean }> {
  const C = c.hiddenSize, F = c.intermediateSize, QD = c.numHeads * c.headDim, KD = c.numKvHeads * c.headDim;
  return {
    q: { suffix: 'self_attn.q_proj', shape: [QD, C], bias: c.qkvBias },
    k: { suffix: 'self_attn.k_proj', shape: [KD, C], bias: c.qkvBias },
    v: { suffix: 'self_attn.v_proj', shape: [KD, C], bias: c.qkvBias },
    o: { suffix: 'self_attn.o_proj', shape: [C, QD], bias: c.oBias },
    gate: { suffix: 'mlp.gate_proj', shape: [F, C], bias: c.mlpBias },
    up: { suffix: 'mlp.up_proj', shape: [F, C], bias: c.mlpBias },
    down: { suffix: 'mlp.down_proj', shape: [C, F], bias: c.mlpBias },
  };
}

/** Every parameter tensor the forward reads, global ones first, then layer by layer. */
export function paramSpec(c: LlamaConfig): ParamEntry[] {
  const C = c.hiddenSize;
  const out: ParamEntry[] = [
    { name: 'model.embed_tokens.weight', kind: 'embedding', role: 'embed', layer: null, shape: [c.vocabSize, C] },
    { name: 'model.norm.weight', kind: 'norm', role: 'final_norm', layer: null, shape: [C] },
  ];
  if (!c.tieWordEmbeddings) out.push({ name: 'lm_head.weight', kind: 'linear', role: 'lm_head', layer: null, shape: [c.vocabSize, C] });
  if (c.ropeScaling.type === 'freq_factors') out.push({ name: 'rope_freqs.weight', kind: 'rope_freqs', role: 'rope_freqs', layer: null, shape: [c.headDim / 2] });
  const lin = linearTable(c);
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const linear = (role: LinearRole) => {
      const t = lin[role];
      out.push({ name: `${p}${t.suffix}.weight`, kind: 'linear', role, layer: l, shape: [...t.shape] });
      if (t.bias) out.push({ name: `${p}${t.suffix}.bias`, kind: 'bias', role, layer: l, shape: [t.shape[0]] });
    };
    const norm = (role: NormRole, n: number) => out.push({ name: `${p}${normName(c, role)}`, kind: 'norm', role, layer: l, shape: [n] });
    norm('attn_norm', C);
    for (const r of ['q', 'k', 'v', 'o'] as const) linear(r);
    if (c.qkNorm) (norm('q_norm', c.headDim), norm('k_norm', c.headDim));
    if (c.sandwichNorms) norm('attn_post_norm', C);
    norm('mlp_norm', C);
    for (const r of ['gate', 'up', 'down'] as const) linear(r);
    if (c.sandwichNorms) norm('mlp_post_norm', C);
  }
  return out;
}
