// THE table of model families sub4 runs: one entry per architecture, holding
// every fact about it that differs between families — how config.json and GGUF
// name it, how its GGUF stores the rotary q/k rows, which biases it always has,
// the defaults transformers fills in, and where it reads a sliding window from.
// Config parsing (config.ts), tensor naming (names.ts) and the GGUF writers
// read these fields and never test a family by name, so adding an architecture
// that runs on the existing kernels is one entry here; a family with new
// forward math (Qwen3's q/k norms) also sets the feature fields the model and
// the references read from the config (never from the family's name).

/** Engine id of a family: its Hugging Face model_type. */
export type LlamaArchitecture = 'llama' | 'mistral' | 'qwen2' | 'qwen3' | 'smollm3' | 'gemma3';

export interface ArchFamily {
  id: LlamaArchitecture;
  /** config.json model_type values of this family besides its id (Gemma 3's text-only "gemma3_text"). */
  hfModelTypes: readonly string[];
  /** transformers classes listed in config.json "architectures" (used when model_type is absent). */
  hfClasses: readonly string[];
  /**
   * general.architecture of its GGUF files. Mistral has none of its own:
   * llama.cpp runs it as "llama", so a "llama" GGUF reads as the llama family.
   */
  ggufArch: string;
  /**
   * GGUF stores q/k rows interleaved (llama.cpp's NORM rope; the converter
   * permutes them): unpermuted on load and re-permuted on export
   * (names.ts). Families on NEOX rope (Qwen2) store the HF half-split order.
   */
  ggufQkInterleaved: boolean;
  /** q/k/v projections carry a bias whatever config.json says (Qwen2). */
  qkvBiasAlways: boolean;
  /** tie_word_embeddings when config.json omits it (transformers' class default). */
  hfTiedByDefault: boolean;
  /** max_position_embeddings when config.json omits it (transformers' class default). */
  defaultMaxPositions: number;
  /** The sliding-window span config.json gives this family, or null for full attention. */
  hfSlidingWindow(json: Readonly<Record<string, unknown>>, int: (key: string) => number): number | null;
  /**
   * Per-head RMSNorm of q and k over head_dim before RoPE (Qwen3: q_norm /
   * k_norm; GGUF attn_q_norm / attn_k_norm), weights [head_dim].
   */
  qkNorm: boolean;
  /**
   * NoPE layers: null when every layer rotates q/k. Otherwise the default
   * interval of the rule "(l + 1) % interval = 0 skips RoPE" (SmolLM3: 4). GGUF
   * has no key for it (llama.cpp hard-codes the interval); config.json may give
   * no_rope_layers (one flag per layer, 1 = RoPE) or no_rope_layer_interval.
   */
  noRopeInterval: number | null;
  /**
   * Gemma 3's block: RMSNorms also on the attention and MLP outputs
   * (post_attention_layernorm / post_feedforward_layernorm; the MLP input norm
   * is then pre_feedforward_layernorm), a GeLU-tanh gated MLP, embeddings
   * scaled by sqrt(hidden), and norm weights stored by transformers as w with
   * the multiplier 1 + w (GGUF and the engine store 1 + w).
   */
  gemma: boolean;
  /**
   * Interleaved sliding/global attention as llama.cpp hard-codes it for GGUF
   * (Gemma 3: layer l slides iff l % 6 < 5, local RoPE base 10000), or null.
   */
  ggufSwa: { pattern: number; localTheta: number } | null;
  /** [HF, GGUF] layer tensor names that differ from the Llama table (names.ts). */
  ggufLayerNames: readonly (readonly [string, string])[];
}

export const FAMILIES: Readonly<Record<LlamaArchitecture, ArchFamily>> = {
  llama: {
    id: 'llama',
    hfModelTypes: [],
    hfClasses: ['LlamaForCausalLM'],
    ggufArch: 'llama',
    ggufQkInterleaved: true,
    qkvBiasAlways: false,
    hfTiedByDefault: false,
    defaultMaxPositions: 2048,
    hfSlidingWindow: () => null,
    qkNorm: false,
    noRopeInterval: null,
    gemma: false,
    ggufSwa: null,
    ggufLayerNames: [],
  },
  mistral: {
    id: 'mistral',
    hfModelTypes: [],
    hfClasses: ['MistralForCausalLM'],
    ggufArch: 'llama',
    ggufQkInterleaved: true,
    qkvBiasAlways: false,
    hfTiedByDefault: false,
    defaultMaxPositions: 2048,
    hfSlidingWindow: (json, int) => (json.sliding_window != null ? int('sliding_window') : null),
    qkNorm: false,
    noRopeInterval: null,
    gemma: false,
    ggufSwa: null,
    ggufLayerNames: [],
  },
  qwen2: {
    id: 'qwen2',
    hfModelTypes: [],
    hfClasses: ['Qwen2ForCausalLM'],
    ggufArch: 'qwen2',
    ggufQkInterleaved: false,
    qkvBiasAlways: true,
    hfTiedByDefault: false,
    defaultMaxPositions: 32768,
    // Qwen2 configs carry a sliding_window that applies only with use_sliding_window.
    hfSlidingWindow: (json, int) => (json.use_sliding_window === true ? int('sliding_window') : null),
    qkNorm: false,
    noRopeInterval: null,
    gemma: false,
    ggufSwa: null,
    ggufLayerNames: [],
  },
  // Qwen3 (transformers Qwen3Attention; llama.cpp LLM_ARCH_QWEN3, NEOX rope so
  // the converter does not permute q/k): Qwen2 without biases, plus q/k norms.
  qwen3: {
    id: 'qwen3',
    hfModelTypes: [],
    hfClasses: ['Qwen3ForCausalLM'],
    ggufArch: 'qwen3',
    ggufQkInterleaved: false,
    qkvBiasAlways: false,
    hfTiedByDefault: false,
    defaultMaxPositions: 32768,
    // As Qwen2: sliding_window applies only with use_sliding_window (off in released configs).
    hfSlidingWindow: (json, int) => (json.use_sliding_window === true ? int('sliding_window') : null),
    qkNorm: true,
    noRopeInterval: null,
    gemma: false,
    ggufSwa: null,
    ggufLayerNames: [],
  },
  // SmolLM3 (transformers SmolLM3Model; llama.cpp LLM_ARCH_SMOLLM3, NORM rope:
  // the converter permutes q/k as for llama): Llama with every 4th layer NoPE.
  smollm3: {
    id: 'smollm3',
    hfModelTypes: [],
    hfClasses: ['SmolLM3ForCausalLM'],
    ggufArch: 'smollm3',
    ggufQkInterleaved: true,
    qkvBiasAlways: false,
    hfTiedByDefault: true,
    defaultMaxPositions: 32768,
    hfSlidingWindow: (json, int) => (json.use_sliding_window === true ? int('sliding_window') : null),
    qkNorm: false,
    noRopeInterval: 4,
    gemma: false,
    ggufSwa: null,
    ggufLayerNames: [],
  },
  // Gemma 3 text (transformers Gemma3ForCausalLM, model_type gemma3_text; the
  // multimodal "gemma3" nests it under text_config; llama.cpp LLM_ARCH_GEMMA3,
  // NEOX rope): q/k norms, four norms per block, GeLU-tanh, scaled embeddings,
  // 5 sliding layers to 1 global.
  gemma3: {
    id: 'gemma3',
    hfModelTypes: ['gemma3_text'],
    hfClasses: ['Gemma3ForCausalLM', 'Gemma3ForConditionalGeneration'],
    ggufArch: 'gemma3',
    ggufQkInterleaved: false,
    qkvBiasAlways: false,
    hfTiedByDefault: true,
    defaultMaxPositions: 131072,
    hfSlidingWindow: (json, int) => (json.sliding_window == null ? 4096 : int('sliding_window')), // Gemma3TextConfig's default
    qkNorm: true,
    noRopeInterval: null,
    gemma: true,
    ggufSwa: { pattern: 6, localTheta: 10000 },
    ggufLayerNames: [
      ['post_attention_layernorm', 'post_attention_norm'],
      ['pre_feedforward_layernorm', 'ffn_norm'],
      ['post_feedforward_layernorm', 'post_ffw_norm'],
    ],
  },
};

export const FAMILY_LIST: readonly ArchFamily[] = Object.values(FAMILIES);

/** model_type values config.json may name. */
export const SUPPORTED_HF_MODEL_TYPES: readonly string[] = FAMILY_LIST.flatMap((f) => [f.id, ...f.hfModelTypes]);

/** general.architecture values a GGUF may name: the families that have their own. */
export const SUPPORTED_GGUF_ARCHITECTURES: readonly LlamaArchitecture[] = FAMILY_LIST.filter((f) => f.ggufArch === f.id).map((f) => f.id);

/** The family of a config.json: its model_type, else the first known class in "architectures". */
export function familyOfHf(modelType: string | undefined, classes: readonly unknown[]): ArchFamily | undefined {
  if (modelType !== undefined) return FAMILY_LIST.find((f) => f.id === modelType || f.hfModelTypes.includes(modelType));
  for (const c of classes) {
    const f = FAMILY_LIST.find((fam) => fam.hfClasses.includes(c as string));
    if (f) return f;
  }
  return undefined;
}

/** The family of a GGUF's general.architecture, or undefined. */
export function familyOfGguf(arch: unknown): ArchFamily | undefined {
  return FAMILY_LIST.find((f) => f.ggufArch === f.id && f.id === arch);
}

/**
 * The NoPE layers of an interval rule: layer l skips RoPE iff (l + 1) % interval
 * = 0 (transformers SmolLM3Config's default no_rope_layers; llama.cpp's
 * n_no_rope_layer_step).
 */
export function noRopeLayersEvery(interval: number, numLayers: number): number[] {
  return Array.from({ length: numLayers }, (_, l) => l).filter((l) => (l + 1) % interval === 0);
}
