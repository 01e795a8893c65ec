// The facts shown about a loaded model, by `sub4 inspect` and the studio's
// model card: one function, so both say the same thing.
import type { LoadedModel } from '../io/loaded_model.ts';
import type { Tokenizer } from '../io/tokenizer/types.ts';
import { parameterCount, type LlamaConfig } from '../arch/config.ts';
import { planTraining, type Plan } from './planner.ts';

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
  /** Predicted peak GPU bytes to fine-tune at seq 256, batch 1 (planner estimate). */
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
  const seq = 256;
  const batch = 1;
  // The base the studio would train: 4-bit codes in groups of 64 (its default grid).
  const plan = (method: 'peqa' | 'lora') => planTraining({ model: m.config, method, batch, seq, bits: 4, groupSize: 64, rank: 16 });
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
    trainingMemory: { seq, batch, assumes: '4-bit codes, group 64, LoRA rank 16 on all 7 linear layers; AdamW', peqa: plan('peqa'), lora: plan('lora') },
  };
}
