// LlamaConfig: the one description of a Llama-family model (Llama 2/3, Mistral,
// Qwen2, SmolLM, TinyLlama) that the engine uses, built from a Hugging Face
// config.json or from GGUF metadata, and validated once here so no later layer
// re-checks head counts or divisibility. What differs between families comes
// from their entry in families.ts, never from a test of the family's name.
import { ConfigError, UnsupportedError } from '../base/errors.ts';
import { FAMILY_LIST, noRopeLayersEvery, familyOfGguf, type ArchFamily, familyOfHf, SUPPORTED_GGUF_ARCHITECTURES, SUPPORTED_HF_MODEL_TYPES, type LlamaArchitecture } from './families.ts';



export type RopeScaling =
  | { type: 'none' }
  /** Positions divided by factor (transformers "linear", GGUF rope.scaling.type = linear). */
  | { type: 'linear'; factor: number }
  /** Llama 3.1+ frequency-dependent scaling (transformers `_compute_llama3_parameters`). */
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number }
  /** GGUF form of llama3 scaling: per-frequency divisors stored in the tensor rope_freqs.weight. */
  | { type: 'freq_factors' };

export interface LlamaConfig {
  architecture: LlamaArchitecture;
  vocabSize: number; // V
  hiddenSize: number; // C
  intermediateSize: number; // F
  numLayers: number;
  numHeads: number; // H
  numKvHeads: number; // K
  headDim: number; // D (may differ from C/H when config.json gives head_dim)
  ropeTheta: number;
  ropeScaling: RopeScaling;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (Qwen2; Llama with attention_bias). */
  qkvBias: boolean;
  /** o_proj carries a bias (Llama attention_bias only). */
  oBias: boolean;
  mlpBias: boolean;
  bosTokenId: number | null;
  /** Generation stops at any of these (Llama 3 lists several). */
  eosTokenIds: number[];
  maxPositions: number;
  /** Mistral-style sliding-window attention span, or null when attention is full. */
  slidingWindow: number | null;
  // Features of the newer families (families.ts). Optional, absent = the Llama
  // behaviour: configs of the older families stay byte-identical, which keeps
  // checkpoint identities (src/train/checkpoint/identity.ts hashes the config) stable.
  /** Per-head RMSNorm of q and k over headDim before RoPE (Qwen3), weights [headDim]. */
  qkNorm?: boolean;
  /** Layers that skip RoPE (SmolLM3's NoPE layers), ascending; absent = none. */
  noRopeLayers?: number[];
  /** RMSNorms on the attention and MLP outputs too (Gemma 3's four norms per block). */
  sandwichNorms?: boolean;
  /** The gated MLP's activation; absent = silu (SwiGLU). Gemma 3: GeLU, tanh approximation. */
  mlpActivation?: 'gelu_tanh';
  /** Embedding rows multiplied by this (Gemma 3: sqrt(hiddenSize) in f32); absent = 1. */
  embedScale?: number;
  /**
   * Sliding layers interleaved with global ones: with slidingWindow set, layer
   * l slides iff l % slidingPattern < slidingPattern − 1 (Gemma 3: 6); absent =
   * every layer slides (Mistral).
   */
  slidingPattern?: number;
  /** RoPE base of the sliding layers, unscaled (Gemma 3: 10000); absent = ropeTheta everywhere. */
  ropeThetaLocal?: number;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads typed fields from a JSON-like source, failing with the field and file named. */
function fieldReader(get: (k: string) => unknown, file: string, label: (k: string) => string) {
  const fail = (k: string, what: string): never => {
    throw new ConfigError(file, `${label(k)} ${what}`);
  };
  const num = (k: string): number | undefined => {
    const v = get(k);
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
    if (typeof v !== 'number' || !Number.isFinite(v)) return fail(k, `is ${JSON.stringify(String(v))}, expected a number`);
    return v;
  };
  const int = (k: string, dflt?: number): number => {
    const v = num(k) ?? dflt;
    if (v === undefined) return fail(k, 'is missing');
    if (!Number.isSafeInteger(v) || v <= 0) return fail(k, `is ${v}, expected a positive integer`);
    return v;
  };
  const pos = (k: string, dflt?: number): number => {
    const v = num(k) ?? dflt;
    if (v === undefined) return fail(k, 'is missing');
    if (!(v > 0)) return fail(k, `is ${v}, expected a positive number`);
    return v;
  };
  const tokenId = (k: string): number | null => {
    const v = num(k);
    if (v === undefined) return null;
    if (!Number.isSafeInteger(v) || v < 0) return fail(k, `is ${v}, expected a token id`);
    return v;
  };
  return { fail, num, int, pos, tokenId };
}

/** Builds a LlamaConfig from a parsed config.json (transformers defaults apply to absent optional keys). */
export function configFromHf(input: unknown, file: string): LlamaConfig {
  if (!isObj(input)) throw new ConfigError(file, 'config.json is not a JSON object');
  // Multimodal checkpoints (Gemma 3's "gemma3") nest the language model's config under text_config.
  const json: Json = isObj(input.text_config) ? { architectures: input.architectures, ...input.text_config, model_type: input.text_config.model_type ?? input.model_type } : input;
  const r = fieldReader((k) => json[k], file, (k) => `field "${k}"`);
  const archs = Array.isArray(json.architectures) ? json.architectures : [];
  const modelType = typeof json.model_type === 'string' ? json.model_type : undefined;
  const family = familyOfHf(modelType, archs);
  if (!family)
    throw new ConfigError(
      file,
      `unsupported model_type ${JSON.stringify(modelType ?? null)} / architectures ${JSON.stringify(archs)}; ` +
        `supported model_type: ${SUPPORTED_HF_MODEL_TYPES.join(', ')} (${FAMILY_LIST.flatMap((f) => f.hfClasses).join(', ')})`,
    );
  const architecture = family.id;
  const wantAct = family.gemma ? 'gelu_pytorch_tanh' : 'silu';
  const act = json.hidden_activation ?? json.hidden_act ?? wantAct;
  if (act !== wantAct) throw new UnsupportedError(file, `hidden_act ${JSON.stringify(act)}: ${family.id} runs ${wantAct} only`);

  const hiddenSize = r.int('hidden_size');
  const numHeads = r.int('num_attention_heads');
  if (json.head_dim == null && !family.gemma && hiddenSize % numHeads !== 0)
    r.fail('num_attention_heads', `(${numHeads}) does not divide hidden_size (${hiddenSize}) and no head_dim is given`);
  const bias = json.attention_bias === true;
  // transformers v5 moves rope_theta and the scaling into rope_parameters.
  const ropeParams = isObj(json.rope_parameters) ? json.rope_parameters : undefined;
  // Gemma 3 under v5 keys them by layer type: the global layers' entry is the model's rope_theta.
  const globalRope = isObj(ropeParams?.full_attention) ? ropeParams.full_attention : ropeParams;
  const ropeTheta = globalRope?.rope_theta ?? json.rope_theta ?? (family.gemma ? 1e6 : 10000);
  const sliding = family.hfSlidingWindow(json, (k) => r.int(k));
  const numLayers = r.int('num_hidden_layers');
  const eos = json.eos_token_id;
  const eosList = Array.isArray(eos) ? eos : [eos];
  const eosReader = fieldReader((k) => eosList[Number(k)], file, (k) => `field "eos_token_id${Array.isArray(eos) ? `[${k}]` : ''}"`);
  const eosTokenIds = eosList.map((_, i) => eosReader.tokenId(String(i))).filter((v): v is number => v !== null);

  return validateConfig(
    {
      architecture,
      vocabSize: r.int('vocab_size'),
      hiddenSize,
      intermediateSize: r.int('intermediate_size'),
      numLayers,
      numHeads,
      numKvHeads: r.int('num_key_value_heads', numHeads),
      headDim: r.int('head_dim', family.gemma ? 256 : hiddenSize / numHeads),
      ropeTheta: fieldReader(() => ropeTheta, file, () => 'field "rope_theta"').pos(''),
      ropeScaling: hfRopeScaling(globalRope ?? json.rope_scaling, file),
      rmsNormEps: r.pos('rms_norm_eps', 1e-6),
      tieWordEmbeddings: typeof json.tie_word_embeddings === 'boolean' ? json.tie_word_embeddings : family.hfTiedByDefault,
      qkvBias: family.qkvBiasAlways || bias,
      oBias: bias,
      mlpBias: json.mlp_bias === true,
      bosTokenId: r.tokenId('bos_token_id'),
      eosTokenIds,
      maxPositions: r.int('max_position_embeddings', family.defaultMaxPositions),
      slidingWindow: sliding,
      ...familyFeatures(family, hiddenSize),
      ...hfNoRope(family, json, numLayers, r, file),
      ...(family.gemma ? hfGemma(json, numLayers, r, file) : {}),
    },
    file,
  );
}

/** The optional feature fields a family turns on (only those set, see LlamaConfig). */
function familyFeatures(f: ArchFamily, hiddenSize: number): Partial<LlamaConfig> {
  return {
    ...(f.qkNorm ? { qkNorm: true } : {}),
    // llama.cpp scales by sqrtf(n_embd) in f32; transformers by sqrt(hidden) cast to the weights' dtype (f32 here).
    ...(f.gemma ? { sandwichNorms: true, mlpActivation: 'gelu_tanh' as const, embedScale: Math.fround(Math.sqrt(hiddenSize)) } : {}),
  };
}

/**
 * Gemma 3's sliding pattern and local RoPE base from config.json, refusing
 * what sub4 and llama.cpp do not run: an attention scale other than
 * head_dim^-0.5 (llama.cpp scales q by 1/sqrt(head_dim) for every size but
 * 27B, whatever query_pre_attn_scalar says; the released configs have
 * query_pre_attn_scalar = head_dim) and logit soft-capping.
 */
function hfGemma(json: Json, numLayers: number, r: ReturnType<typeof fieldReader>, file: string): Partial<LlamaConfig> {
  const headDim = r.int('head_dim', 256);
  const qpas = r.num('query_pre_attn_scalar') ?? 256;
  if (qpas !== headDim) throw new UnsupportedError(file, `query_pre_attn_scalar ${qpas} ≠ head_dim ${headDim}: sub4 scales attention by head_dim^-0.5, as llama.cpp does`);
  for (const k of ['final_logit_softcapping', 'attn_logit_softcapping'])
    if (json[k] != null) throw new UnsupportedError(file, `${k} ${JSON.stringify(json[k])}: logit soft-capping is not supported`);
  const pattern = r.int('sliding_window_pattern', 6);
  const types = json.layer_types;
  if (types != null) {
    const want = Array.from({ length: numLayers }, (_, l) => ((l + 1) % pattern === 0 ? 'full_attention' : 'sliding_attention'));
    if (!Array.isArray(types) || types.length !== numLayers || types.some((t, l) => t !== want[l]))
      throw new UnsupportedError(file, `layer_types differ from ${pattern - 1} sliding layers to 1 global, the only interleaving sub4 runs`);
  }
  const local = isObj(json.rope_parameters) && isObj(json.rope_parameters.sliding_attention) ? json.rope_parameters.sliding_attention.rope_theta : json.rope_local_base_freq;
  return {
    slidingPattern: pattern,
    ropeThetaLocal: fieldReader(() => local, file, () => 'field "rope_local_base_freq"').pos('', 10000),
  };
}

/** SmolLM3's NoPE layers from config.json: no_rope_layers flags (1 = RoPE), else the interval rule. */
function hfNoRope(f: ArchFamily, json: Json, numLayers: number, r: ReturnType<typeof fieldReader>, file: string): Partial<LlamaConfig> {
  if (f.noRopeInterval === null) return {};
  const flags = json.no_rope_layers;
  if (flags == null) return { noRopeLayers: noRopeLayersEvery(r.int('no_rope_layer_interval', f.noRopeInterval), numLayers) };
  if (!Array.isArray(flags) || flags.length !== numLayers || flags.some((v) => v !== 0 && v !== 1))
    throw new ConfigError(file, `field "no_rope_layers" must list 0 or 1 for each of the ${numLayers} layers`);
  return { noRopeLayers: flags.flatMap((v, l) => (v === 0 ? [l] : [])) };
}

function hfRopeScaling(rs: unknown, file: string): RopeScaling {
  if (rs === undefined || rs === null) return { type: 'none' };
  if (!isObj(rs)) throw new ConfigError(file, 'field "rope_scaling" is not an object');
  const r = fieldReader((k) => rs[k], file, (k) => `field "rope_scaling.${k}"`);
  const type = rs.rope_type ?? rs.type ?? 'default';
  if (type === 'default') return { type: 'none' };
  if (type === 'linear') return { type: 'linear', factor: r.pos('factor') };
  if (type === 'llama3')
    return {
      type: 'llama3',
      factor: r.pos('factor'),
      lowFreqFactor: r.pos('low_freq_factor'),
      highFreqFactor: r.pos('high_freq_factor'),
      originalMaxPositions: r.int('original_max_position_embeddings'),
    };
  throw new UnsupportedError(file, `rope_scaling type ${JSON.stringify(type)}: supported are default, linear, llama3`);
}

/** The value part of a GGUF key/value entry (the GGUF reader's `{type, value}`). */
export type GgufKv = ReadonlyMap<string, { value: unknown }>;

const arrayOf = (v: unknown): ArrayLike<unknown> | null =>
  Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView)) ? (v as unknown as ArrayLike<unknown>) : null;

/**
 * Builds a LlamaConfig from GGUF metadata. GGUF keys do not say whether
 * embeddings are tied, which projections carry biases, or whether llama3 rope
 * factors are present: pass the file's tensor names to read those from which
 * tensors exist (without them: untied, biases as the architecture implies).
 */
export function configFromGgufKv(kv: GgufKv, file: string, tensorNames?: Iterable<string>): LlamaConfig {
  const arch = kv.get('general.architecture')?.value;
  const family = familyOfGguf(arch);
  if (!family)
    throw new ConfigError(
      file,
      `unsupported general.architecture ${JSON.stringify(typeof arch === 'string' ? arch : String(arch))}; supported: ${SUPPORTED_GGUF_ARCHITECTURES.join(', ')}`,
    );
  const a = family.id;
  // Per-layer arrays (e.g. feed_forward_length in some converters) are accepted only when uniform.
  const get = (k: string): unknown => {
    const v = kv.get(k)?.value;
    const arr = arrayOf(v);
    if (!arr) return v;
    for (let i = 1; i < arr.length; i++)
      if (arr[i] !== arr[0]) throw new UnsupportedError(file, `key ${k} varies per layer; sub4 needs one value for all layers`);
    return arr[0];
  };
  const r = fieldReader(get, file, (k) => `key ${k}`);
  const hiddenSize = r.int(`${a}.embedding_length`);
  const numHeads = r.int(`${a}.attention.head_count`);
  const keyLen = r.num(`${a}.attention.key_length`);
  if (keyLen === undefined && hiddenSize % numHeads !== 0)
    r.fail(`${a}.attention.head_count`, `(${numHeads}) does not divide ${a}.embedding_length (${hiddenSize})`);
  const headDim = r.int(`${a}.attention.key_length`, hiddenSize / numHeads);
  const ropeDim = r.int(`${a}.rope.dimension_count`, headDim);
  if (ropeDim !== headDim) throw new UnsupportedError(file, `partial rotary embedding (${a}.rope.dimension_count ${ropeDim} ≠ head dim ${headDim})`);

  const tokens = arrayOf(kv.get('tokenizer.ggml.tokens')?.value);
  const vocabSize = r.int(`${a}.vocab_size`, tokens?.length);
  const names = tensorNames ? new Set(tensorNames) : null;
  // 0xFFFFFFFF is how some converters write "no such token".
  const tid = (k: string) => {
    const v = r.tokenId(k);
    return v === 0xffffffff ? null : v;
  };
  const eosTokenIds = [...new Set(['eos_token_id', 'eot_token_id', 'eom_token_id'].map((k) => tid(`tokenizer.ggml.${k}`)))].filter(
    (v): v is number => v !== null,
  );

  return validateConfig(
    {
      architecture: a,
      vocabSize,
      hiddenSize,
      intermediateSize: r.int(`${a}.feed_forward_length`),
      numLayers: r.int(`${a}.block_count`),
      numHeads,
      numKvHeads: r.int(`${a}.attention.head_count_kv`, numHeads),
      headDim,
      ropeTheta: r.pos(`${a}.rope.freq_base`, 10000),
      ropeScaling: ggufRopeScaling(kv, a, file, names),
      rmsNormEps: r.pos(`${a}.attention.layer_norm_rms_epsilon`),
      tieWordEmbeddings: names ? !names.has('output.weight') : false,
      qkvBias: family.qkvBiasAlways || (names?.has('blk.0.attn_q.bias') ?? false),
      oBias: names?.has('blk.0.attn_output.bias') ?? false,
      mlpBias: names?.has('blk.0.ffn_up.bias') ?? false,
      bosTokenId: tid('tokenizer.ggml.bos_token_id'),
      eosTokenIds,
      maxPositions: r.int(`${a}.context_length`),
      ...ggufSwa(family, r, a),
      ...familyFeatures(family, hiddenSize),
      ...(family.noRopeInterval ? { noRopeLayers: noRopeLayersEvery(family.noRopeInterval, r.int(`${a}.block_count`)) } : {}),
    },
    file,
  );
}

/** Sliding window from GGUF: the key's span, with llama.cpp's hard-coded pattern and local base (Gemma 3). */
function ggufSwa(f: ArchFamily, r: ReturnType<typeof fieldReader>, a: string): Pick<LlamaConfig, 'slidingWindow' | 'slidingPattern' | 'ropeThetaLocal'> {
  const w = f.ggufSwa ? r.num(`${a}.attention.sliding_window`) : undefined;
  // llama.cpp: no key, or 0, means every layer attends globally.
  if (!f.ggufSwa || !w) return { slidingWindow: null };
  return { slidingWindow: r.int(`${a}.attention.sliding_window`), slidingPattern: f.ggufSwa.pattern, ropeThetaLocal: f.ggufSwa.localTheta };
}

function ggufRopeScaling(kv: GgufKv, a: string, file: string, names: Set<string> | null): RopeScaling {
  const r = fieldReader((k) => kv.get(k)?.value, file, (k) => `key ${k}`);
  const type = kv.get(`${a}.rope.scaling.type`)?.value;
  const legacyLinear = r.num(`${a}.rope.scale_linear`);
  if (names?.has('rope_freqs.weight')) return { type: 'freq_factors' };
  if (type === 'linear') return { type: 'linear', factor: r.pos(`${a}.rope.scaling.factor`) };
  if (type === undefined || type === 'none') return legacyLinear && legacyLinear !== 1 ? { type: 'linear', factor: r.pos(`${a}.rope.scale_linear`) } : { type: 'none' };
  throw new UnsupportedError(file, `${a}.rope.scaling.type ${JSON.stringify(String(type))}: supported are none, linear`);
}

/** Cross-field checks shared by both sources; returns the config unchanged when it is consistent. */
export function validateConfig(c: LlamaConfig, file: string): LlamaConfig {
  const fail = (field: keyof LlamaConfig, what: string): never => {
    throw new ConfigError(file, `${field} ${what}`);
  };
  for (const f of ['vocabSize', 'hiddenSize', 'intermediateSize', 'numLayers', 'numHeads', 'numKvHeads', 'headDim', 'maxPositions'] as const)
    if (!Number.isSafeInteger(c[f]) || c[f] <= 0) fail(f, `is ${c[f]}, expected a positive integer`);
  if (c.numHeads % c.numKvHeads !== 0) fail('numKvHeads', `(${c.numKvHeads}) does not divide numHeads (${c.numHeads})`);
  if (c.headDim % 2 !== 0) fail('headDim', `(${c.headDim}) must be even for rotary embeddings`);
  for (const f of ['ropeTheta', 'rmsNormEps'] as const) if (!(Number.isFinite(c[f]) && c[f] > 0)) fail(f, `is ${c[f]}, expected a positive number`);
  if (c.noRopeLayers && c.noRopeLayers.some((l, i) => !Number.isSafeInteger(l) || l < 0 || l >= c.numLayers || (i > 0 && l <= c.noRopeLayers![i - 1])))
    fail('noRopeLayers', `[${c.noRopeLayers.join(', ')}] must be ascending layer indices below numLayers (${c.numLayers})`);
  if (c.slidingWindow !== null && !(Number.isSafeInteger(c.slidingWindow) && c.slidingWindow > 0)) fail('slidingWindow', 'must be a positive integer');
  if (c.slidingPattern !== undefined && !(Number.isSafeInteger(c.slidingPattern) && c.slidingPattern >= 1)) fail('slidingPattern', `is ${c.slidingPattern}, expected a positive integer`);
  for (const f of ['embedScale', 'ropeThetaLocal'] as const) if (c[f] !== undefined && !(Number.isFinite(c[f]) && c[f]! > 0)) fail(f, `is ${c[f]}, expected a positive number`);
  for (const id of [c.bosTokenId, ...c.eosTokenIds])
    if (id !== null && id >= c.vocabSize) fail(c.bosTokenId === id ? 'bosTokenId' : 'eosTokenIds', `${id} is outside the vocabulary (${c.vocabSize})`);
  return c;
}

/** Unique parameters (tied embeddings counted once). */
export function parameterCount(c: LlamaConfig): number {
  const C = c.hiddenSize, F = c.intermediateSize, qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim;
  const attn = C * qDim + 2 * C * kvDim + qDim * C + (c.qkvBias ? qDim + 2 * kvDim : 0) + (c.oBias ? C : 0);
  const mlp = 3 * C * F + (c.mlpBias ? 2 * F + C : 0);
  // + input and post-attention RMSNorm weights (+ q/k norms, + Gemma's two output norms)
  const perLayer = attn + mlp + 2 * C + (c.qkNorm ? 2 * c.headDim : 0) + (c.sandwichNorms ? 2 * C : 0);
  return c.vocabSize * C * (c.tieWordEmbeddings ? 1 : 2) + c.numLayers * perLayer + C;
}
