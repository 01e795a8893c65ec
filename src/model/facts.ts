// The facts shown about a loaded model, by `sub4 inspect` and the studio's
// model card: one function, so both say the same thing.
import type { LoadedModel } from '../io/loaded_model.ts';
import type { Tokenizer } from '../io/tokenizer/types.ts';
import { parameterCount, type LlamaConfig } from '../arch/config.ts';
import { planStep, storageOf, type LinearStorage, type Plan } from './planner.ts';
import { paramSpec } from '../arch/params.ts';

export interface TypeCount {
  tensors: number;
  parameters: number;
  bytes: number;
}

/** What a user needs to prompt the model the way it was trained: its chat template, and its BOS / EOS. */
export interface TokenizerFacts {
  kind: string;
  vocabSize: number;
  chatTemplate: boolean;
  /** BOS as the vocabulary spells it, and whether encoding prepends it; null without one. */
  bos: { id: number; text: string; prepended: boolean } | null;
  eos: { id: number; text: string }[];
}

export interface ModelFacts {
  format: 'gguf' | 'hf';
  name: string;
  architecture: string;
  config: LlamaConfig;
  /** Unique parameters the architecture has (tied embeddings counted once). */
  parameters: number;
  /** Values stored in the file (a GGUF may store a tied LM head twice). */
  storedParameters: number;
  tensorTypes: Record<string, TypeCount>;
  /** Stored tensor bits divided by stored values, scales and offsets included. */
  bitsPerWeight: number;
  fileBytes: number;
  tokenizer: TokenizerFacts | { problem: string };
  /**
   * What the file says it was fine-tuned as: a sub4 export's own description (method, what changed, data, steps,
   * perplexity), else GGUF general.finetune; null when it says nothing.
   */
  finetune: string | null;
  /** Predicted peak GPU bytes of the studio's default run (planStep over a whole Trainer run: steps, evaluations, samples). */
  trainingMemory: { seq: number; batch: number; assumes: string; peqa: Plan; lora: Plan };
}

function tokenizerFacts(t: Tokenizer): TokenizerFacts {
  const text = (id: number) => t.tokenText(id) ?? `#${id}`;
  return {
    kind: t.kind,
    vocabSize: t.vocabSize,
    chatTemplate: typeof t.applyChatTemplate === 'function',
    bos: t.bosId === null ? null : { id: t.bosId, text: text(t.bosId), prepended: t.addBosDefault },
    eos: t.eosIds.map((id) => ({ id, text: text(id) })),
  };
}

function finetuneOf(m: LoadedModel): string | null {
  const str = (key: string) => {
    const v = m.gguf?.kv.get(key)?.value;
    return typeof v === 'string' && v.trim() !== '' ? v : null;
  };
  // sub4's exports write general.sub4.* beside the standard keys (src/export/export.ts provenanceKv).
  if (str('general.sub4.method')) return str('general.description') ?? `sub4 ${str('general.sub4.method')} fine-tune`;
  return str('general.finetune');
}

export function modelFacts(m: LoadedModel): ModelFacts {
  const tensorTypes: Record<string, TypeCount> = {};
  let stored = 0;
  let bytes = 0;
  for (const t of m.tensors.values()) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const c = (tensorTypes[t.type] ??= { tensors: 0, parameters: 0, bytes: 0 });
    c.tensors++;
    c.parameters += n;
    c.bytes += t.bytes;
    stored += n;
    bytes += t.bytes;
  }
  // The studio's default run (src/state/slices/train.ts): batch 4 × seq 128, AdamW, evaluations and a sample.
  // PEQA trains 4-bit g32 codes (float layers quantized by sub4; a quantized file keeps its own types); LoRA
  // (rank 8) sits on the file's weights as stored. The same planner the train panel and the run check use.
  const seq = Math.min(128, m.config.maxPositions);
  const batch = 4;
  const own = storageOf(m);
  const linears = new Map(paramSpec(m.config).filter((p) => p.kind === 'linear' && p.layer !== null).map((p) => [p.name, p.shape[1]]));
  const quantizedFile = [...linears.keys()].some((n) => own(n).kind === 'quant');
  const peqaStorage = (name: string): LinearStorage => (quantizedFile || !linears.has(name) ? own(name) : { kind: 'quant', bits: 4, groupSize: 32 });
  const plan = (method: 'peqa' | 'lora'): Plan => {
    const { total, parts } = planStep({
      config: m.config, storage: method === 'peqa' ? peqaStorage : own, train: method === 'peqa' ? { method: 'peqa' } : { method: 'lora', lora: { rank: 8 } },
      B: batch, T: seq, run: { sampleLength: seq },
    });
    return { total, parts };
  };
  return {
    format: m.format,
    name: m.name,
    architecture: m.config.architecture,
    config: m.config,
    parameters: parameterCount(m.config),
    storedParameters: stored,
    tensorTypes,
    bitsPerWeight: stored ? (bytes * 8) / stored : 0,
    fileBytes: m.fileBytes,
    finetune: finetuneOf(m),
    tokenizer: m.tokenizer ? tokenizerFacts(m.tokenizer) : { problem: m.tokenizerProblem ?? 'no tokenizer' },
    trainingMemory: { seq, batch, assumes: `${quantizedFile ? "PEQA on the file's quantized layers" : 'PEQA on 4-bit codes, group 32'}, LoRA rank 8 on all 7 linear layers of the file's weights; AdamW, evaluations and samples`, peqa: plan('peqa'), lora: plan('lora') },
  };
}
