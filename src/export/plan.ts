// Which export formats a run will be able to write exactly, known before it
// starts (the studio shows this next to Start): it depends only on the method,
// the quantization grid, and what the base is. Plain data in and out, so the UI
// can call it without the engine. After training, exportChoices
// (./export.ts) decides from the tuned model itself, with the same rules.
export type PlannedFormat = 'gguf' | 'gguf-lora' | 'peft' | 'gptq' | 'mlx' | 'aqlm' | 'merged';

export interface RunShape {
  method: 'peqa' | 'lora' | 'peqa+lora' | 'lqlora' | 'reallm';
  /** sub4 quantizes float weights first (null: the file's own storage). */
  quant: { bits: number; groupSize: number | 'channel' } | null;
  /** DoRA (--dora): magnitude vectors that llama.cpp and mlx-lm adapters cannot hold, nor PEFT on AQLM. */
  dora?: boolean;
  /** What PEQA trains ('auto' or absent: the view native to each layer's type). */
  peqa?: 'auto' | 'scale' | 'scale+offset' | 'gguf-superblock';
  base: {
    format: 'gguf' | 'hf';
    /** Storage types of the linear layers ('Q4_0', 'Q4_K', 'F32', 'GPTQ 4-bit g128', ...). */
    linearTypes: readonly string[];
  };
}

export interface PlannedExport {
  format: PlannedFormat;
  exact: boolean;
  /** Not exact, but written all the same with the error reported (ReALLM's GGUF + LoRA adapter). */
  approximate?: boolean;
  why: string;
}

const LEGACY_OR_K = /^(Q[2-8]_[01K]|Q[2-6]_K)$/;

/** Codebook types (src/quant/vq/): their exact view is θ = each block's stored scale, like the K-quants' super-blocks. */
const CODEBOOK = /^(IQ[1-4]_(XXS|XS|S|M|NL)|TQ[12]_0|MXFP4|NVFP4)$/;
/** Codebook types whose stored scales are not continuous (e8m0, ue4m3): no exact view. */
const FREE_ONLY = /^(MXFP4|NVFP4)$/;

/** The PEQA view whose θ are a GGUF type's own f16 fields. */
const nativeView = (type: string) => (/_K$/.test(type) || (CODEBOOK.test(type) && !FREE_ONLY.test(type)) ? 'gguf-superblock' : /_1$/.test(type) ? 'scale+offset' : 'scale');

function gguf(r: RunShape): PlannedExport {
  const no = (why: string): PlannedExport => ({ format: 'gguf', exact: false, why });
  if (r.quant) {
    if (r.quant.bits === 4 && r.quant.groupSize === 32) return { format: 'gguf', exact: true, why: '4-bit groups of 32 with integer zero points are Q4_1 blocks' };
    const grid = `${r.quant.bits}-bit ${r.quant.groupSize === 'channel' ? 'per-channel' : `groups of ${r.quant.groupSize}`}`;
    return no(`${grid} has no GGUF block type (use 4-bit groups of 32 for GGUF)`);
  }
  const quantized = r.base.linearTypes.filter((t) => LEGACY_OR_K.test(t) || CODEBOOK.test(t));
  if (r.base.linearTypes.some((t) => t.startsWith('GPTQ'))) return no('a GPTQ base exports as GPTQ');
  const peqa = r.method === 'peqa' || r.method === 'peqa+lora' ? (r.peqa ?? 'auto') : 'auto';
  const usesPeqa = r.method === 'peqa' || r.method === 'peqa+lora';
  const fp4 = quantized.filter((t) => FREE_ONLY.test(t));
  if (usesPeqa && peqa === 'auto' && fp4.length)
    return no(`${[...new Set(fp4)].join(', ')} store their block scales as powers of two / fp8, which a tuned scale is refitted to at export (approximate: the error is reported)`);
  const off = peqa === 'auto' ? [] : quantized.filter((t) => nativeView(t) !== peqa);
  if (off.length)
    return no(`'${peqa}' tunes free values that ${[...new Set(off)].join(', ')} blocks cannot hold exactly${off.some((t) => t.endsWith('_K') || CODEBOOK.test(t)) ? ' (sub4 export can refit K-quant and i-quant sub-scales approximately and reports the error)' : ''}`);
  if (quantized.length) return { format: 'gguf', exact: true, why: `the base's own blocks (${[...new Set(quantized)].join(', ')}), tuned scales written in place` };
  return r.method === 'peqa' ? no('PEQA needs quantized layers') : { format: 'gguf', exact: true, why: 'the float base, as F16' };
}

/** A learned-VQ base (ReALLM, or an AQLM checkpoint's layers): AQLM + PEFT, or PEFT alone; no GGUF, GPTQ or MLX type holds a learned table. */
const LEARNED = /^AQLM /;

/** Said before a ReALLM run (the studio shows it under the formats): its layout is AQLM's. */
export const REALLM_AQLM = 'AQLM folder of the learned codebooks + a PEFT adapter beside it. AQLM holds one scale per output row, so ReALLM builds its base with exactly that: one f16 scale per row, f16 tables';

function aqlm(r: RunShape): PlannedExport {
  const learned = r.method === 'reallm' || (!r.quant && r.base.linearTypes.some((t) => LEARNED.test(t)));
  if (!learned) return { format: 'aqlm', exact: false, why: 'AQLM holds learned codebooks: train with --method reallm (or on an AQLM base)' };
  if (r.base.format !== 'hf') return { format: 'aqlm', exact: false, why: 'AQLM needs a Hugging Face base folder (config.json, tokenizer files)' };
  if (r.method === 'peqa' || r.method === 'peqa+lora') return { format: 'aqlm', exact: false, why: 'PEQA on a learned codebook is not exported (train LoRA on it)' };
  if (r.method === 'reallm') return { format: 'aqlm', exact: true, why: REALLM_AQLM };
  return { format: 'aqlm', exact: true, why: 'AQLM folder of the learned codebooks (f16 tables and scales) + a PEFT adapter beside it' };
}

export function plannedExports(r: RunShape): PlannedExport[] {
  const merged: PlannedExport = r.base.format === 'hf' ? { format: 'merged', exact: true, why: 'F16 Hugging Face folder with the update merged' } : { format: 'merged', exact: false, why: 'a merged checkpoint needs a Hugging Face base folder' };
  return [...plannedOf(r), merged].map((p) => (r.dora && (p.exact || p.approximate) ? doraLimit(p, r.method === 'reallm' || (!r.quant && r.base.linearTypes.some((t) => LEARNED.test(t)))) : p));
}

/**
 * As export.ts doraLimits: what a DoRA run cannot write, of what it could write without DoRA (ReALLM's
 * approximate GGUF + LoRA adapter included).
 */
function doraLimit(p: PlannedExport, learned: boolean): PlannedExport {
  if (p.format === 'gguf-lora' || p.format === 'mlx') return { ...p, exact: false, approximate: false, why: `a DoRA adapter's magnitude vectors do not fit ${p.format === 'mlx' ? 'the mlx-lm' : 'a llama.cpp'} LoRA adapter: export merged` };
  if ((p.format === 'peft' || p.format === 'aqlm') && learned) return { ...p, exact: false, approximate: false, why: 'PEFT refuses DoRA on AQLM layers: export merged' };
  return p;
}

function plannedOf(r: RunShape): PlannedExport[] {
  if (r.method === 'reallm') {
    const no = (format: PlannedFormat, what: string): PlannedExport => ({ format, exact: false, why: `a learned codebook has no ${what} type: export AQLM (+ PEFT adapter)` });
    // Not exact, but writable: llama.cpp gets the codebooks re-encoded into GGUF types (src/export/reallm_gguf.ts).
    const ggufLora: PlannedExport = { format: 'gguf-lora', exact: false, approximate: true, why: 'approximate: each learned codebook re-encoded into the nearest GGUF type at the run\'s bits (the added error is reported) + the LoRA adapter GGUF; exact: AQLM (+ PEFT adapter)' };
    return [no('gguf', 'GGUF'), ggufLora, { format: 'peft', exact: true, why: 'PEFT adapter (the base is the AQLM export)' }, no('gptq', 'GPTQ'), no('mlx', 'MLX'), aqlm(r)];
  }
  return [...plannedExportsOf(r), aqlm(r)];
}

function plannedExportsOf(r: RunShape): PlannedExport[] {
  const lora = r.method !== 'peqa';
  const g = gguf(r);
  const noLora: PlannedExport = { format: 'peft', exact: false, why: 'PEQA trains no LoRA factors' };
  const gptqOk = r.base.format === 'hf' && (r.quant ? [2, 3, 4, 8].includes(r.quant.bits) : r.base.linearTypes.some((t) => t.startsWith('GPTQ')));
  // As exportChoices: a lone GGUF of a LoRA run would be the base without its tune.
  const alone: PlannedExport = lora && g.exact ? { format: 'gguf', exact: false, why: 'the LoRA factors are not in a lone GGUF: export GGUF + LoRA adapter' } : g;
  return [
    alone,
    lora ? { format: 'gguf-lora', exact: g.exact, why: g.exact ? 'llama.cpp adapter on the GGUF base' : g.why } : { ...noLora, format: 'gguf-lora' },
    lora ? { format: 'peft', exact: true, why: 'PEFT adapter (Hugging Face module names)' } : noLora,
    gptqOk
      ? { format: 'gptq', exact: true, why: 'GPTQ packing of the same grid (layers it cannot pack stay F16)' }
      : { format: 'gptq', exact: false, why: r.base.format !== 'hf' ? 'GPTQ needs a Hugging Face base folder' : 'quantize with --bits (2, 3 or 4) for GPTQ' },
    mlx(r),
  ];
}

/** MLX affine layers take bits 2/3/4/5/6/8 in groups of 32/64/128 (src/export/mlx.ts). */
function mlx(r: RunShape): PlannedExport {
  const no = (why: string): PlannedExport => ({ format: 'mlx', exact: false, why });
  if (r.base.format !== 'hf') return no('MLX needs a Hugging Face base folder');
  const grids = r.quant ? [r.quant] : r.base.linearTypes.map(gptqGrid).filter((g) => g !== null);
  if (grids.length === 0) return no('quantize with --bits (2, 3, 4, 5, 6 or 8, groups of 32, 64 or 128) for MLX');
  const bad = grids.find((g) => ![2, 3, 4, 5, 6, 8].includes(g.bits) || ![32, 64, 128].includes(g.groupSize as number));
  if (bad) return no(`${bad.bits}-bit ${bad.groupSize === 'channel' ? 'per-channel' : `groups of ${bad.groupSize}`} is not an MLX grid (bits 2, 3, 4, 5, 6, 8; groups of 32, 64, 128)`);
  return { format: 'mlx', exact: true, why: `MLX affine layers of the same grid${r.method === 'peqa' ? '' : ' + mlx-lm LoRA adapter'}` };
}

/** 'GPTQ 4-bit g128' → its grid. */
function gptqGrid(t: string): { bits: number; groupSize: number | 'channel' } | null {
  const m = /^GPTQ (\d)-bit (?:g(\d+)|per-channel)$/.exec(t);
  return m ? { bits: Number(m[1]), groupSize: m[2] ? Number(m[2]) : 'channel' } : null;
}
