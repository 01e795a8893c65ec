// Reads a Hugging Face PEFT LoRA adapter (docs/formats.md §5) into a LoraSet,
// treating both files as hostile: every field that changes what the adapter
// computes is checked, and anything sub4 would silently compute differently is
// refused by name (rsLoRA's alpha/√r scale, per-module rank/alpha patterns,
// trained biases, modules_to_save, fan_in_fan_out). DoRA (use_dora) is read:
// each module then needs its lora_magnitude_vector [out] (with or without
// `.weight`, formats-2.md §5.1), and a magnitude without use_dora is refused.
// Config fields PEFT defaults when absent (r = 8, lora_alpha = 8) get the same
// defaults here, as PEFT's LoraConfig would load them.
// Errors: ConfigError for adapter_config.json, SafetensorsError for the weights
// (including the safetensors reader's own checks: truncation, bad header),
// UnsupportedError for well-formed adapters sub4 cannot apply; each names the file.
import { ConfigError, SafetensorsError, UnsupportedError } from '../../base/errors.ts';
import { openSafetensors } from '../safetensors/reader.ts';
import type { ByteSource } from '../source.ts';
import { LINEAR_ROLES, type LinearRole } from '../../arch/params.ts';
import { firstNonFinite, LORA_MODULES, type LoraFactor, type LoraSet } from './set.ts';
import { PEFT_CONFIG_FILE, PEFT_PREFIX } from './peft_names.ts';

/** No Llama-family model comes near this many layers; a larger index is a broken file, not a big model. */
const MAX_LAYERS = 4096;
/** dtypes a LoRA factor may have (float only: an integer tensor is not a factor). */
const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16']);

const ROLE_OF_MODULE = new Map(LINEAR_ROLES.map((r) => [LORA_MODULES[r], r] as const));
// base_model.model.model.layers.N.<module>.lora_A.weight (no leading zeros in N, as PyTorch names modules).
const KEY = new RegExp(`^${PEFT_PREFIX.replace(/\./g, '\\.')}model\\.layers\\.(0|[1-9]\\d{0,8})\\.(\\w+\\.\\w+)\\.(?:lora_(A|B)\\.weight|lora_(magnitude)_vector(?:\\.weight)?)$`);

type Json = Record<string, unknown>;

interface PeftConfig {
  rank: number;
  alpha: number;
  dora: boolean;
  /** rank_pattern's per-module ranks by `${layer}.${role}` (sub4's --budget exports write them). */
  ranks: Map<string, number>;
}

// rank_pattern keys sub4 reads: one module's path (what sub4's PEFT export writes), with any prefix.
const RANK_KEY = /^(?:.*\.)?layers\.(0|[1-9]\d{0,8})\.(\w+\.\w+)$/;

/** The fields of adapter_config.json that decide the math, validated. */
export function parsePeftConfig(text: string, file: string): PeftConfig {
  const fail = (detail: string): never => {
    throw new ConfigError(file, detail);
  };
  const unsupported = (detail: string): never => {
    throw new UnsupportedError(file, detail);
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail(`is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('is not a JSON object');
  const c = json as Json;
  const has = (k: string) => c[k] !== undefined && c[k] !== null;
  if (!has('peft_type')) fail('has no peft_type (is this a PEFT adapter_config.json?)');
  if (c.peft_type !== 'LORA') unsupported(`peft_type is ${JSON.stringify(c.peft_type)}; sub4 reads LoRA adapters (peft_type "LORA") only`);
  if (c.use_rslora === true) unsupported('use_rslora is true: rsLoRA scales by lora_alpha/√r, sub4 and llama.cpp adapters by lora_alpha/r');
  for (const k of ['use_rslora', 'use_dora', 'fan_in_fan_out', 'lora_bias'])
    if (has(k) && typeof c[k] !== 'boolean') fail(`${k} is ${JSON.stringify(c[k])}, expected true or false`);
  if (c.fan_in_fan_out === true) unsupported('fan_in_fan_out is true (Conv1D-style transposed weights, GPT-2 models); Llama adapters have it false');
  if (c.lora_bias === true) unsupported('lora_bias is true: lora_B carries a bias, which sub4 does not apply');
  if (has('bias') && c.bias !== 'none') unsupported(`bias is ${JSON.stringify(c.bias)}: trained biases are not part of a LoRA sub4 applies (only "none")`);
  if (has('modules_to_save') && !(Array.isArray(c.modules_to_save) && c.modules_to_save.length === 0))
    unsupported(`modules_to_save is ${JSON.stringify(c.modules_to_save)}: the adapter replaces whole modules, which sub4 does not apply`);
  for (const k of ['rank_pattern', 'alpha_pattern'])
    if (has(k)) {
      const v = c[k];
      if (typeof v !== 'object' || Array.isArray(v)) fail(`${k} is ${JSON.stringify(v)}, expected an object`);
      if (k === 'alpha_pattern' && Object.keys(v as Json).length > 0) unsupported('alpha_pattern sets per-module alphas; sub4 applies one alpha (scale alpha / rank per module)');
    }
  // Per-module ranks: one module path per key (a regex over several modules is refused, not guessed).
  const ranks = new Map<string, number>();
  for (const [k, r] of Object.entries((has('rank_pattern') ? c.rank_pattern : {}) as Json)) {
    const m = RANK_KEY.exec(k);
    const role = m ? ROLE_OF_MODULE.get(m[2]) : undefined;
    if (!m || !role) unsupported(`rank_pattern key ${JSON.stringify(k)} is not one module's path (model.layers.N.<module>), the only form sub4 reads`);
    if (typeof r !== 'number' || !Number.isSafeInteger(r) || r < 1) fail(`rank_pattern[${JSON.stringify(k)}] is ${JSON.stringify(r)}, expected a positive integer`);
    ranks.set(`${Number(m![1])}.${role}`, r as number);
  }
  const rank = has('r') ? c.r : 8;
  if (typeof rank !== 'number' || !Number.isSafeInteger(rank) || rank < 1) fail(`r is ${JSON.stringify(c.r)}, expected a positive integer`);
  const alpha = has('lora_alpha') ? c.lora_alpha : 8;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) fail(`lora_alpha is ${JSON.stringify(c.lora_alpha)}, expected a number`);
  return { rank: rank as number, alpha: alpha as number, dora: c.use_dora === true, ranks };
}

/**
 * adapter_config.json (text) + adapter_model.safetensors → LoraSet (HF row order,
 * factors by layer then role). `name` is the adapter's name (its folder) and
 * prefixes the config's file name in errors; weight errors name `weights.name`.
 * Takes ownership of `weights` (closed when done or on failure).
 */
export async function readPeftAdapter(files: { config: string; weights: ByteSource }, name: string): Promise<LoraSet> {
  let cfg: PeftConfig;
  try {
    cfg = parsePeftConfig(files.config, `${name}/${PEFT_CONFIG_FILE}`);
  } catch (e) {
    await files.weights.close?.();
    throw e;
  }
  const st = await openSafetensors(files.weights);
  const file = files.weights.name;
  const fail = (detail: string): never => {
    throw new SafetensorsError(file, detail);
  };
  try {
    const pairs = new Map<string, { layer: number; role: LinearRole; A?: string; B?: string; magnitude?: string }>();
    for (const [key, t] of st.tensors) {
      const m = KEY.exec(key);
      const role = m ? ROLE_OF_MODULE.get(m[2]) : undefined;
      if (!m || !role) {
        if (/\.lora_(A|B)\.weight$/.test(key)) throw new UnsupportedError(file, `tensor ${key}: a LoRA on a module sub4 does not adapt (it adapts ${LINEAR_ROLES.map((r) => LORA_MODULES[r]).join(', ')} of model.layers.N)`);
        throw new UnsupportedError(file, `tensor ${key} is not a LoRA factor sub4 reads (expected ${PEFT_PREFIX}model.layers.N.<module>.lora_A.weight / lora_B.weight)`);
      }
      const layer = Number(m[1]);
      if (layer >= MAX_LAYERS) fail(`tensor ${key}: layer ${layer} is beyond any model sub4 loads (< ${MAX_LAYERS})`);
      if (!FLOAT_DTYPES.has(t.dtype)) throw new UnsupportedError(file, `tensor ${key} is ${t.dtype}; LoRA factors must be F32, F16 or BF16`);
      if (m[4] && !cfg.dora) throw new UnsupportedError(file, `tensor ${key} is a DoRA magnitude, but use_dora is not true in ${PEFT_CONFIG_FILE}`);
      const k = `${layer}.${role}`;
      const p = pairs.get(k) ?? { layer, role };
      p[(m[3] ?? 'magnitude') as 'A' | 'B' | 'magnitude'] = key;
      pairs.set(k, p);
    }
    if (pairs.size === 0) fail('holds no LoRA factors');

    // Every shape check before reading any tensor data.
    const plan = [...pairs.values()].sort((x, y) => x.layer - y.layer || LINEAR_ROLES.indexOf(x.role) - LINEAR_ROLES.indexOf(y.role));
    const dims = plan.map((p) => {
      const R = cfg.ranks.get(`${p.layer}.${p.role}`) ?? cfg.rank;
      const which = `layer ${p.layer} ${LORA_MODULES[p.role]}`;
      if (!p.A || !p.B) fail(`${which} has lora_${p.A ? 'A' : 'B'} but no lora_${p.A ? 'B' : 'A'}`);
      const a = st.tensors.get(p.A!)!.shape;
      const b = st.tensors.get(p.B!)!.shape;
      if (a.length !== 2 || b.length !== 2) fail(`${which}: lora_A is [${a.join(', ')}] and lora_B [${b.join(', ')}], both must be 2-D`);
      if (a[0] !== R) fail(`${p.A}: shape [${a.join(', ')}] has rank ${a[0]}, but r is ${R} for it in ${PEFT_CONFIG_FILE}`);
      if (b[1] !== R) fail(`${p.B}: shape [${b.join(', ')}] has rank ${b[1]}, but r is ${R} for it in ${PEFT_CONFIG_FILE}`);
      if (a[1] < 1 || b[0] < 1) fail(`${which}: empty factor (lora_A [${a.join(', ')}], lora_B [${b.join(', ')}])`);
      if (cfg.dora && !p.magnitude) fail(`${which} has no lora_magnitude_vector, which use_dora needs`);
      const mag = p.magnitude && st.tensors.get(p.magnitude)!.shape;
      if (mag && (mag.length !== 1 || mag[0] !== b[0])) fail(`${p.magnitude}: shape [${mag.join(', ')}], the module has ${b[0]} outputs`);
      return { inFeatures: a[1], outFeatures: b[0], ...(R !== cfg.rank ? { rank: R } : {}) };
    });

    const factors: LoraFactor[] = [];
    for (let i = 0; i < plan.length; i++) {
      const p = plan[i];
      const a = await st.readTensorF32(p.A!);
      const b = await st.readTensorF32(p.B!);
      const magnitude = p.magnitude ? await st.readTensorF32(p.magnitude) : undefined;
      const bad = firstNonFinite(a) ?? firstNonFinite(b) ?? (magnitude ? firstNonFinite(magnitude) : null);
      if (bad !== null) fail(`layer ${p.layer} ${LORA_MODULES[p.role]}: a factor holds ${bad}`);
      factors.push({ layer: p.layer, role: p.role, a, b, ...dims[i], ...(magnitude ? { magnitude } : {}) });
    }
    return { rank: cfg.rank, alpha: cfg.alpha, factors };
  } finally {
    await st.close();
  }
}
