// One entry point for every export format: which formats a tuned model can be
// written to (exactly, or why not), and writing one of them into an export
// target with its model card. Used by `sub4 export`, `sub4 tune --format` and
// the studio's export panel (through the worker).
import { budgetPlanKv } from './budget_kv.ts';
import { type ExportTarget, ExportError, writeExportFile, writeWholeFile } from './target.ts';
import { modelCard, type CardFacts } from './model_card.ts';
import { GgufValueType, type GgufKv } from '../io/gguf/types.ts';
import { GGUF_LORA_FILE, writeGgufLoraAdapter } from './gguf_lora.ts';
import { PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE } from '../io/lora/peft_names.ts';
import { writePeftAdapter } from './peft.ts';
import { planGptqExport, writeGptqFolder } from './gptq/folder.ts';
import { planMlxExport, writeMlxFolder } from './mlx.ts';
import { paramSpec } from '../arch/params.ts';
import { FAMILIES } from '../arch/families.ts';
import { ggufExportCheck, writeTunedGguf } from './gguf.ts';
import type { TunedModel } from './tuned.ts';
import { planAqlmExport, writeAqlmFolder } from './aqlm.ts';
import type { VqTensor } from '../quant/vq/vqtensor.ts';
import { commonReencodeBits, reencodeBits, reencodeNotes, reencodeReallm, reencodeRule, writeReallmGguf } from './reallm_gguf.ts';
import { mergedLinears, writeMergedFolder } from './merged.ts';
import { mixedRanks } from '../io/lora/set.ts';
import { doraLimits, isDora, mergedChoice } from './export_dora.ts';

export { EXPORT_FORMATS, type ExportFormat, type ExportChoice, type ExportResult } from './export_types.ts';
import { EXPORT_FORMATS, type ExportChoice, type ExportFormat, type ExportResult } from './export_types.ts';

function quantText(tm: TunedModel): string {
  const q = tm.manifest.quant;
  if (q) return `${q.bits}-bit, ${q.groupSize === 'channel' ? 'per-channel' : `groups of ${q.groupSize}`} (quantized by sub4: round-to-nearest, integer zero points)`;
  if (tm.manifest.reallm) {
    const r = tm.manifest.reallm;
    return `ReALLM learned codebooks: ${r.bits}-bit codes of ${r.dim} weights, one f16 scale per row (${r.bitsPerWeight.toFixed(3)} bits per weight with the tables; quantized by sub4 from the float weights, alternating with a rank-${r.rank} correction the LoRA factors started from)`;
  }
  if (tm.manifest.budget?.method === 'reallm') return `ReALLM learned codebooks, shape (d weights per code, k-bit codes) and LoRA rank per matrix under ${tm.manifest.budget.budget} bits per weight (${tm.manifest.budget.bits.toFixed(4)} used, LoRA included; f16 row scales and tables; quantized by sub4 from the float weights: see the bit budget plan)`;
  if (tm.manifest.budget) return `mixed per matrix under ${tm.manifest.budget.budget} bits per weight (${tm.manifest.budget.bits.toFixed(4)} used, LoRA included; quantized by sub4 from the float weights: see the bit budget plan)`;
  const types = new Set([...tm.base.tensors.values()].filter((t) => tm.linears.has(t.name) || tm.vqLinears.has(t.name)).map((t) => t.type));
  return types.size ? `${[...types].join(', ')} (the base file's own blocks)` : 'none (float weights)';
}

/** general.* keys saying what was tuned (GGUF exports). */
export function provenanceKv(tm: TunedModel): [string, GgufKv][] {
  const m = tm.manifest;
  const s = (value: string): GgufKv => ({ type: GgufValueType.STRING, value });
  const trained = [...tm.linears.values(), ...tm.vqLinears.values()].filter((l) => l.trained);
  const what = [trained.length ? `quantization scales of ${trained.length} linear layers (${[...new Set(trained.map((l) => l.trained!.kind))].join(', ')})` : null, tm.norms.size ? `${tm.norms.size} RMSNorm weights` : null]
    .filter(Boolean)
    .join(' and ');
  const ppl = m.perplexity.before !== null && m.perplexity.after !== null ? `; held-out perplexity ${m.perplexity.before.toFixed(3)} → ${m.perplexity.after.toFixed(3)}` : '';
  return [
    ['general.finetune', s(`sub4-${m.method}`)],
    ['general.description', s(`sub4 ${m.method} fine-tune of ${m.base.name}: ${what || 'no base tensor changed (the LoRA adapter carries the tune)'}; ${m.steps} steps on ${m.data.file}${ppl}`)],
    ['general.sub4.method', s(m.method)],
    ['general.sub4.tuned', s(what || 'none')],
    ['general.sub4.data', s(`${m.data.file} (${m.data.bytes} bytes)`)],
    ['general.sub4.steps', { type: GgufValueType.UINT32, value: m.steps }],
    ...(m.budget ? budgetPlanKv(m.budget, m.budget.fisher ? 'fisher' : m.budget.imatrix ? 'imatrix' : 'none') : []),
  ];
}

/** The base's learned-codebook linears (a ReALLM run's overlay, or an AQLM checkpoint's layers): engine names whose tensor has readVq. */
function learnedLinears(tm: TunedModel): string[] {
  return paramSpec(tm.base.config)
    .filter((p) => p.kind === 'linear' && p.layer !== null && tm.base.tensors.get(p.name)?.readVq !== undefined)
    .map((p) => p.name);
}

/** The learned layers' codebook shapes (d weights per code, k-bit codes). */
function learnedVq(tm: TunedModel): { dim: number; bits: number }[] {
  return learnedLinears(tm).map((n) => tm.base.tensors.get(n)!.vq!);
}

async function readLearned(tm: TunedModel): Promise<Map<string, VqTensor>> {
  const out = new Map<string, VqTensor>();
  for (const name of learnedLinears(tm)) out.set(name, await tm.base.tensors.get(name)!.readVq!());
  return out;
}

/** AQLM (+ PEFT adapter beside it): only for a base whose linears are learned codebooks. */
function aqlmChoice(tm: TunedModel): ExportChoice {
  const no = (detail: string): ExportChoice => ({ format: 'aqlm', ok: false, detail, notes: [] });
  const learned = learnedLinears(tm);
  if (learned.length === 0) return no('AQLM holds learned codebooks, and this run\'s base has none (train with --method reallm)');
  if (!tm.base.hf) return no(`AQLM needs a Hugging Face base folder (config.json, tokenizer files); ${tm.base.name} is a GGUF`);
  const trained = [...tm.linears.values(), ...tm.vqLinears.values()].some((l) => l.trained);
  if (trained) return no('this run tuned quantization scales, which the AQLM export does not carry');
  const vq = tm.base.tensors.get(learned[0])!.vq!;
  // AQLM's quantization_config is global: one in_group_size and nbits_per_codebook for every layer.
  const shapes = new Set(learned.map((n) => { const v = tm.base.tensors.get(n)!.vq!; return `1×${v.bits}-bit codes of ${v.dim}`; }));
  if (shapes.size > 1)
    return no(`AQLM's quantization_config is global (one in_group_size and nbits_per_codebook per model), and this run's layers have ${shapes.size} codebook shapes (${[...shapes].join('; ')}): train with --format aqlm, which holds the --budget plan to one shape, or export peft / gguf-lora`);
  const hasLora = tm.lora !== null && tm.lora.factors.length > 0;
  return {
    format: 'aqlm', ok: true,
    detail: `AQLM 1×${vq.bits}-bit codes of ${vq.dim} weights (${learned.length} layers, f16 tables and scales)${hasLora ? ' + PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) beside it' : ''}`,
    notes: ['no Python AQLM loader runs in sub4\'s tests: the folder is checked by loading it back with sub4 (sub4 eval <folder> --lora <folder>)'],
  };
}

/** Every format, whether this tuned model can be written to it, and why not. */
export function exportChoices(tm: TunedModel): ExportChoice[] {
  const learned = learnedLinears(tm).length > 0;
  return [...formatChoices(tm), mergedChoice(tm)].map((c) => doraLimits(c, tm, learned));
}

function formatChoices(tm: TunedModel): ExportChoice[] {
  if (learnedLinears(tm).length > 0) {
    // A learned table is no GGUF block type, no GPTQ/MLX grid: AQLM (+ PEFT), the adapter alone, or for
    // llama.cpp the codebooks re-encoded into GGUF types (approximate, the added error reported) + the adapter.
    const hasLora = tm.lora !== null && tm.lora.factors.length > 0;
    const none = (format: ExportFormat, what: string): ExportChoice => ({ format, ok: false, detail: `the base's linears are learned codebooks, which no ${what} type holds: export aqlm (the codebooks + the PEFT adapter)`, notes: [] });
    const trained = [...tm.linears.values(), ...tm.vqLinears.values()].some((l) => l.trained);
    // A ReALLM run's layers, each re-encoded at its own ⌊k/d⌋ bits (one shape: the run's); an imported AQLM base is not re-encoded.
    const reallm = tm.manifest.method === 'reallm';
    const bits = reallm ? commonReencodeBits(learnedVq(tm)) : null;
    const ggufLora: ExportChoice = !hasLora
      ? { format: 'gguf-lora', ok: false, detail: 'this run trained no LoRA factors', notes: [] }
      : trained || !reallm
        ? none('gguf-lora', 'GGUF')
        : {
            format: 'gguf-lora', ok: true,
            detail: `${ggufFileName(tm)} (approximate: ${reencodeRule(bits)}; the added error is measured and reported per layer and in total) + ${GGUF_LORA_FILE} (the LoRA factors, unchanged): load both`,
            notes: [],
          };
    return [
      { ...none('gguf', 'GGUF'), detail: `the base's linears are learned codebooks, which no GGUF type holds exactly, and the tune is in the LoRA factors: export gguf-lora (re-encoded into GGUF types, the added error reported) or aqlm` },
      ggufLora,
      hasLora ? { format: 'peft', ok: true, detail: `PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors); its base is ${aqlmChoice(tm).ok ? 'the AQLM export of the learned codebooks' : 'the learned codebooks this state holds (whose shapes differ per layer, which no AQLM checkpoint holds)'}`, notes: [] } : { format: 'peft', ok: false, detail: 'this run trained no LoRA factors', notes: [] },
      none('gptq', 'GPTQ'),
      none('mlx', 'MLX'),
      aqlmChoice(tm),
    ];
  }
  const g = ggufExportCheck(tm);
  const hasLora = tm.lora !== null && tm.lora.factors.length > 0;
  // A lone model.gguf of a run with LoRA factors is not the tuned model (the factors live in the adapter), so
  // GGUF alone is offered only when the tune is all in the model's own tensors; merging the factors would mean
  // re-quantizing every layer, which sub4 does not do silently.
  const gguf: ExportChoice = g.problems.length
    ? { format: 'gguf', ok: false, detail: g.problems[0], notes: g.problems.slice(1) }
    : hasLora
      ? { format: 'gguf', ok: false, detail: `this run's tune is ${tm.manifest.trainMethod === 'lora' ? '' : 'partly '}in its LoRA factors, which a lone ${ggufFileName(tm)} does not hold: export GGUF + LoRA adapter (run it with --lora ${GGUF_LORA_FILE})`, notes: [] }
      : { format: 'gguf', ok: true, detail: 'the quantized model with its tuned scales', notes: g.notes };
  const noLora = 'this run trained no LoRA factors';
  const baseWhat = [...tm.linears.values(), ...tm.vqLinears.values()].some((l) => l.trained) ? 'the quantized base with its tuned scales' : 'the quantized base, unchanged';
  return [
    gguf,
    hasLora
      ? { format: 'gguf-lora', ok: !g.problems.length, detail: g.problems.length ? `the base GGUF: ${g.problems[0]}` : `${ggufFileName(tm)} (${baseWhat}) + ${GGUF_LORA_FILE} (the LoRA factors): load both`, notes: g.problems.length ? [] : g.notes }
      : { format: 'gguf-lora', ok: false, detail: noLora, notes: [] },
    hasLora ? { format: 'peft', ok: true, detail: 'PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors)', notes: [] } : { format: 'peft', ok: false, detail: noLora, notes: [] },
    gptqChoice(tm),
    mlxChoice(tm),
    aqlmChoice(tm),
  ];
}

function mlxChoice(tm: TunedModel): ExportChoice {
  const no = (detail: string): ExportChoice => ({ format: 'mlx', ok: false, detail, notes: [] });
  if (!tm.base.hf) return no(`MLX needs a Hugging Face base folder (config.json, tokenizer files); ${tm.base.name} is a GGUF — export GGUF instead`);
  try {
    const plan = planMlxExport(linearMap(tm));
    const overrides = Object.keys(plan.quantization).length - 3;
    const notes = plan.dense.map((d) => `${d.name}: written as F32 of its tuned grid, loaded as a plain Linear (${d.why})`);
    if (overrides > 0) notes.push(`${overrides} layers with their own bits/group size (per-module overrides in config.json)`);
    const hasLora = tm.lora !== null && tm.lora.factors.length > 0;
    return { format: 'mlx', ok: true, detail: `MLX affine ${plan.bits}-bit, groups of ${plan.groupSize}, scales and biases exact (F32)${hasLora ? ' + mlx-lm LoRA adapter' : ''}`, notes };
  } catch (e) {
    if (e instanceof ExportError) return no(e.detail);
    throw e;
  }
}

function gptqChoice(tm: TunedModel): ExportChoice {
  const no = (detail: string): ExportChoice => ({ format: 'gptq', ok: false, detail, notes: [] });
  if (!tm.base.hf) return no(`GPTQ needs a Hugging Face base folder (config.json, tokenizer files); ${tm.base.name} is a GGUF — export GGUF instead`);
  if (tm.linears.size === 0) return no('no linear layer is quantized (quantize with --bits to export GPTQ)');
  try {
    const plan = planGptqExport(linearMap(tm), { numLayers: tm.base.config.numLayers });
    const notes = plan.dense.map((d) => `${d.name}: written as F16 of its tuned grid and excluded from GPTQ (${d.why})`);
    if (tm.lora) notes.push('LoRA factors are not in these weights: apply the PEFT adapter on top');
    return { format: 'gptq', ok: true, detail: `${plan.bits}-bit, group ${plan.groupSize === -1 ? 'per-channel' : plan.groupSize}, ${plan.sym ? 'symmetric' : 'asymmetric'} (${plan.format})`, notes };
  } catch (e) {
    if (e instanceof ExportError) return no(e.detail);
    throw e;
  }
}

const linearMap = (tm: TunedModel) => new Map([...tm.linears].map(([n, l]) => [n, l.q]));

/**
 * The tuned GGUF's file name: the model, the method and the bits, so exports of
 * several runs can sit in one Downloads folder apart ("stories260K-peqa-4bit.gguf"
 * when sub4 quantized it; else the base's main block type of its linear layers,
 * by values: "stories260K-q4_0-peqa-Q4_0.gguf").
 */
export function ggufFileName(tm: Pick<TunedModel, 'manifest' | 'base' | 'linears' | 'vqLinears'>): string {
  const stem = tm.manifest.base.name.replace(/\.gguf$/i, '').replace(/[^\w.-]+/g, '-').replace(/^[-.]+|-+$/g, '') || 'model';
  const q = tm.manifest.quant;
  const values = new Map<string, number>();
  for (const t of tm.base.tensors.values())
    if (tm.linears.has(t.name) || tm.vqLinears.has(t.name)) values.set(t.type, (values.get(t.type) ?? 0) + t.shape.reduce((a, b) => a * b, 1));
  const main = [...values].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'F32';
  const r = tm.manifest.reallm;
  const b = tm.manifest.budget;
  return `${stem}-${tm.manifest.method.replace(/\+/g, '-')}-${q ? `${q.bits}bit` : r ? `${reencodeBits(r)}bit` : b?.method === 'reallm' ? `${b.budget}bpw` : main}.gguf`;
}

/** The base's Hub id: config.json's _name_or_path when it reads "owner/name" (not a local path), else null. */
export function baseHubId(tm: Pick<TunedModel, 'base'>): string | null {
  const id = tm.base.hf?.configJson._name_or_path;
  return typeof id === 'string' && /^[\w.-]+\/[\w.-]+$/.test(id) && !id.startsWith('.') ? id : null;
}

/** HF id of the base for PEFT's base_model_name_or_path: config.json's _name_or_path, else the file or folder name. */
function baseModelId(tm: TunedModel): string {
  const id = tm.base.hf?.configJson._name_or_path;
  return typeof id === 'string' && id.length > 0 ? id : tm.base.name;
}

const AUX_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json', 'tokenizer.model', 'chat_template.jinja'];

/** The base folder's tokenizer and generation files, copied as they are (GPTQ and MLX folders). */
function auxFiles(tm: TunedModel): { name: string; read(): Promise<Uint8Array> }[] {
  const hf = tm.base.hf!;
  const present = new Set(hf.folder.list());
  return AUX_FILES.filter((f) => present.has(f)).map((name) => ({
    name,
    read: async () => {
      const src = await hf.folder.open(name);
      try {
        return await src.read(0, src.size);
      } finally {
        await src.close?.();
      }
    },
  }));
}

/** Every tensor that is not a quantized linear layer (tuned norms where trained), read on demand. */
function plainTensors(tm: TunedModel): { name: string; shape: number[]; read(): Promise<Float32Array> }[] {
  // The engine holds Gemma's norm multipliers 1 + w; transformers' checkpoints store w.
  const offset = FAMILIES[tm.base.config.architecture].gemma ? 1 : 0;
  return paramSpec(tm.base.config)
    .filter((p) => !tm.linears.has(p.name) && p.kind !== 'rope_freqs')
    .map((p) => ({
      name: p.name,
      shape: p.shape,
      read: async () => {
        const v = tm.norms.get(p.name) ?? (await tm.base.tensors.get(p.name)!.readF32());
        return offset && p.kind === 'norm' ? v.map((x) => x - offset) : v;
      },
    }));
}

async function writeGptq(tm: TunedModel, target: ExportTarget, readme: (files: string[]) => string): Promise<string[]> {
  const files = auxFiles(tm);
  const names = ['model.safetensors', ...files.map((f) => f.name), 'quantize_config.json', 'config.json'];
  const res = await writeGptqFolder(target, { config: tm.base.hf!.configJson, linears: linearMap(tm), tensors: plainTensors(tm), files, readme: readme(names) });
  return res.files.filter((f) => f !== 'README.md');
}

async function writeAqlm(tm: TunedModel, target: ExportTarget, readme: (files: string[]) => string, notes: string[]): Promise<string[]> {
  const files = auxFiles(tm);
  const linears = await readLearned(tm);
  const plan = planAqlmExport(linears);
  notes.push(...plan.notes);
  const lora = tm.lora && tm.lora.factors.length > 0;
  const names = ['model.safetensors', ...(lora ? [PEFT_WEIGHTS_FILE, PEFT_CONFIG_FILE] : []), ...files.map((f) => f.name), 'config.json'];
  // The adapter first: config.json, written last by writeAqlmFolder, marks a whole folder.
  // Its base_model_name_or_path is this folder (".": the AQLM model beside it).
  if (lora) await writePeftAdapter(target, tm.lora!, { baseModel: '.' });
  const res = await writeAqlmFolder(target, { config: tm.base.hf!.configJson, linears, tensors: plainTensors(tm).filter((t) => !linears.has(t.name)), files, readme: readme(names) });
  return [...(lora ? [PEFT_WEIGHTS_FILE, PEFT_CONFIG_FILE] : []), ...res.files.filter((f) => f !== 'README.md')];
}

async function writeMlx(tm: TunedModel, target: ExportTarget, readme: (files: string[]) => string): Promise<string[]> {
  const files = auxFiles(tm);
  const lora = tm.lora && tm.lora.factors.length > 0 ? { set: tm.lora, numLayers: tm.base.config.numLayers, base: baseModelId(tm) } : null;
  const names = ['model.safetensors', ...(lora ? ['adapters.safetensors', 'adapter_config.json'] : []), ...files.map((f) => f.name), 'config.json'];
  const res = await writeMlxFolder(target, { config: tm.base.hf!.configJson, linears: linearMap(tm), tensors: plainTensors(tm), files, lora, readme: readme(names) });
  return res.files.filter((f) => f !== 'README.md');
}

export interface ExportOptions {
  onProgress?(done: number, total: number, file: string): void;
}

/** What each file of an export holds, and which of them together are the tuned model the perplexity was measured on. */
function contents(tm: TunedModel, format: ExportFormat): string[] {
  const scalesTuned = [...tm.linears.values(), ...tm.vqLinears.values()].some((l) => l.trained);
  const lora = tm.lora && `the LoRA factors (${mixedRanks(tm.lora) ? 'ranks per matrix as the budget plan says' : `rank ${tm.lora.rank}`}, alpha ${tm.lora.alpha}, ${tm.lora.factors.length} layers)`;
  switch (format) {
    case 'gguf':
      return [`\`${ggufFileName(tm)}\`: the whole tuned model (the base's integer codes with the tuned scales); the held-out perplexity after is this file's`];
    case 'gguf-lora':
      if (tm.manifest.method === 'reallm')
        return [
          `\`${ggufFileName(tm)}\`: the learned codebooks re-encoded into GGUF types (${reencodeRule(commonReencodeBits(learnedVq(tm)))}): approximate, the added error per layer and in total is in the notes below; every other tensor as in the base; on its own it is not the tuned model`,
          `\`${GGUF_LORA_FILE}\`: ${lora}, unchanged; the held-out perplexity after is that of the run's learned-codebook base with these factors, not of ${ggufFileName(tm)} (the re-encoding changes the base by the error reported)`,
        ];
      return [
        `\`${ggufFileName(tm)}\`: ${scalesTuned ? 'the quantized base with the tuned scales' : 'the quantized base, unchanged'}; on its own it is not the tuned model`,
        `\`${GGUF_LORA_FILE}\`: ${lora}; the held-out perplexity after is that of ${ggufFileName(tm)} with this adapter applied (\`--lora ${GGUF_LORA_FILE}\`)`,
      ];
    case 'peft':
      return [
        `\`${PEFT_WEIGHTS_FILE}\` + \`${PEFT_CONFIG_FILE}\`: ${lora}, applied to ${baseModelId(tm)}` +
          (scalesTuned ? '; this run also tuned quantization scales, which the adapter does not carry (export GGUF + LoRA adapter for those)' : ''),
      ];
    case 'gptq':
      return [`\`model.safetensors\`: the tuned grid packed as GPTQ${lora ? `; ${lora} are not in it: apply the PEFT adapter on top` : ''}`];
    case 'aqlm':
      return [
        '`model.safetensors` + `config.json`: the learned codebooks as AQLM layers (1 codebook, out_group_size 1; codes exactly sub4\'s, tables and row scales rounded to f16), every other tensor F16',
        ...(lora ? [`\`${PEFT_WEIGHTS_FILE}\` + \`${PEFT_CONFIG_FILE}\`: ${lora}, for this folder's model; the held-out perplexity after is that of the AQLM model with this adapter`] : []),
        'DoRA is not offered: PEFT refuses DoRA on AQLM layers (a DoRA run exports merged, or stays a sub4 state)',
      ];
    case 'merged':
      return [`\`model.safetensors\` + \`config.json\`: every tensor F16, each linear layer the run's weight${lora ? ` with ${lora} merged${isDora(tm) ? ' (DoRA: each row times magnitude over its norm)' : ''}` : ''}; the held-out perplexity after is this model's up to the F16 rounding`];
    case 'mlx':
      return [
        '`model.safetensors` + `config.json`: the tuned grid as MLX affine layers (codes, scales and biases exactly sub4\'s)',
        ...(lora ? [`\`adapters.safetensors\` + \`adapter_config.json\`: ${lora} for mlx-lm; the held-out perplexity after is that of the model with this adapter (\`--adapter-path\`)`] : []),
      ];
  }
}

function cardFacts(tm: TunedModel, format: ExportFormat, files: string[], notes: string[]): CardFacts {
  const m = tm.manifest;
  return {
    format, files, base: m.base.name, baseId: baseHubId(tm), method: m.method, quant: quantText(tm), steps: m.steps, data: m.data, seqLen: m.seqLen, batch: m.batch, lr: m.lr, seed: m.seed,
    perplexity: m.perplexity, lora: tm.lora && { rank: tm.lora.rank, alpha: tm.lora.alpha, ...(mixedRanks(tm.lora) ? { mixed: true } : {}) }, contents: contents(tm, format), notes, budget: m.budget ?? null,
  };
}

/** Write `format` into the target: its files, then README.md. Refuses (ExportError) what exportChoices refuses. */
export async function exportTuned(tm: TunedModel, format: ExportFormat, target: ExportTarget, opts: ExportOptions = {}): Promise<ExportResult> {
  const choice = exportChoices(tm).find((c) => c.format === format);
  if (!choice) throw new ExportError(format, `unknown format; sub4 writes ${EXPORT_FORMATS.join(', ')}`);
  if (!choice.ok) throw new ExportError(format, choice.detail);
  const files: string[] = [];
  const notes = [...choice.notes];
  const file = async (name: string, produce: Parameters<typeof writeExportFile>[2]) => {
    opts.onProgress?.(files.length, 0, name);
    await writeExportFile(target, name, produce);
    files.push(name);
  };
  switch (format) {
    case 'gguf':
    case 'gguf-lora':
      if (format === 'gguf-lora' && tm.manifest.method === 'reallm') {
        const r = reencodeReallm(tm, await readLearned(tm));
        notes.push(...reencodeNotes(r));
        await file(ggufFileName(tm), async (sink) => void (await writeReallmGguf(tm, sink, provenanceKv(tm), r)));
      } else await file(ggufFileName(tm), async (sink) => void notes.push(...(await writeTunedGguf(tm, sink, provenanceKv(tm))).notes));
      if (format === 'gguf-lora')
        await file(GGUF_LORA_FILE, async (sink) => void (await writeGgufLoraAdapter(sink, tm.lora!, tm.base.config, { name: `${tm.manifest.base.name} sub4 ${tm.manifest.method} adapter`, kv: provenanceKv(tm).filter(([k]) => k.startsWith('general.')) })));
      break;
    case 'peft':
      opts.onProgress?.(0, 0, PEFT_WEIGHTS_FILE);
      await writePeftAdapter(target, tm.lora!, { baseModel: baseModelId(tm) });
      files.push(PEFT_WEIGHTS_FILE, PEFT_CONFIG_FILE);
      break;
    case 'gptq':
      opts.onProgress?.(0, 0, 'model.safetensors');
      files.push(...(await writeGptq(tm, target, (names) => modelCard(cardFacts(tm, format, names, notes)))));
      return { files: [...files, 'README.md'], notes };
    case 'aqlm':
      opts.onProgress?.(0, 0, 'model.safetensors');
      files.push(...(await writeAqlm(tm, target, (names) => modelCard(cardFacts(tm, format, names, notes)), notes)));
      return { files: [...files, 'README.md'], notes };
    case 'mlx':
      opts.onProgress?.(0, 0, 'model.safetensors');
      files.push(...(await writeMlx(tm, target, (names) => modelCard(cardFacts(tm, format, names, notes)))));
      return { files: [...files, 'README.md'], notes };
    case 'merged': {
      opts.onProgress?.(0, 0, 'model.safetensors');
      const aux = auxFiles(tm);
      const linears = mergedLinears(tm);
      const names = new Set(linears.map((t) => t.name));
      const tensors = [...linears, ...plainTensors(tm).filter((t) => !names.has(t.name))];
      const readme = modelCard(cardFacts(tm, format, ['model.safetensors', ...aux.map((f) => f.name), 'config.json'], notes));
      const res = await writeMergedFolder(target, { config: tm.base.hf!.configJson, tensors, files: aux, readme });
      return { files: res.files, notes };
    }
  }
  await writeWholeFile(target, 'README.md', modelCard(cardFacts(tm, format, files, notes)));
  return { files: [...files, 'README.md'], notes };
}
