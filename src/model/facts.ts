// The facts shown about a loaded model, by `sub4 inspect` and the studio's
// model card: one function, so both say the same thing.
import type { LoadedModel } from '../io/loaded_model.ts';
import { parameterCount, type LlamaConfig } from '../arch/config.ts';
import { planTraining, type Plan } from './planner.ts';

export interface TypeCount {
  tensors: number;
  parameters: number;
  bytes: number;
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
  tokenizer: { kind: string; vocabSize: number } | { problem: string };
  /** Predicted peak GPU bytes to fine-tune at seq 256, batch 1 (planner estimate). */
  trainingMemory: { seq: number; batch: number; assumes: string; peqa: Plan; lora: Plan };
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
    tokenizer: m.tokenizer ? { kind: m.tokenizer.kind, vocabSize: m.tokenizer.vocabSize } : { problem: m.tokenizerProblem ?? 'no tokenizer' },
    trainingMemory: { seq, batch, assumes: '4-bit codes, group 64, LoRA rank 16 on all 7 linear layers; AdamW', peqa: plan('peqa'), lora: plan('lora') },
  };
}
