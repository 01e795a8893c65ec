// LQ-LoRA under a bit budget end to end through the bin entry:
//   sub4 tune <f32 model> --method lqlora --budget B --format gguf-lora
// prints the per-matrix plan before training, writes a mixed-type GGUF (each
// blk.* linear layer in its chosen type) and the llama.cpp adapter, and:
//  - the bits per weight counted from the files themselves stay within the
//    budget: (Σ bytes of the GGUF's blk.*.{attn_q,attn_k,attn_v,attn_output,
//    ffn_gate,ffn_up,ffn_down}.weight tensors + Σ values of the adapter's
//    .lora_a/.lora_b tensors × 2 bytes) · 8 / Σ elements of those GGUF
//    tensors (tests/helpers/budget_files.ts). The adapter values are counted at 16 bits, the plan's stated
//    convention (the adapter file itself stores them as F32, which would be
//    twice that);
//  - llama.cpp (node-llama-cpp) on that GGUF with the adapter reproduces
//    `sub4 eval <state>` perplexity within 0.5 %;
//  - a budget below the cheapest plan is refused, naming the minimum.
// The 2.5-bit run needs types below Q2_K's 2.625 bits (TQ1_0/TQ2_0, the grid
// i-quants), which the engine runs through its codebook path (src/gpu/vq_gpu.ts:
// measured with main's kernels, TQ1_0 + Q2_K, 2.4935 bits, 0.18 % from llama.cpp);
// a scalar-types run (--types) at 3.5 bits checks the same pipeline on the
// K-quant / legacy kernels.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gpuReady } from '../helpers/gpu_available.ts';
import { budgetData as setup, budgetModel as model, budgetRun, shakespeare, sub4 } from '../helpers/budget_files.ts';

const ready = () => !!(shakespeare && model && gpuReady());

describe('sub4 tune --method lqlora --budget', () => {
  it('2.5 bits per weight with --format gguf-lora: the files hold ≤ 2.5 bits per weight; llama.cpp + adapter = sub4 eval', { timeout: 900_000 }, async () => {
    if (!ready()) return;
    await budgetRun(2.5, ['--rank', '4']);
  });

  it('3.5 bits per weight over the K-quant and legacy types only (--types): same checks', { timeout: 900_000 }, async () => {
    if (!ready()) return;
    const { measured } = await budgetRun(3.5, ['--rank', '4', '--types', 'Q2_K,Q3_K,Q4_K,Q5_K,Q6_K,Q8_0,Q4_0,Q4_1,Q5_0,Q5_1']);
    expect(new Set(measured.types.values()).size).toBeGreaterThan(1); // a mixed-type GGUF
  });

  it('refuses a budget below the cheapest plan, naming the minimum bits per weight', { timeout: 300_000 }, async () => {
    if (!(shakespeare && model)) return;
    const { dir, train } = setup();
    const err = await sub4(['tune', model!, '--method', 'lqlora', '--budget', '1', '--rank', '4', '--steps', '1', '--format', 'gguf-lora', '--types', 'Q2_K,Q4_K', '--data', train, '--out', join(dir, 'out')]).then(
      () => null,
      (e: { stderr: string; code: number }) => e,
    );
    expect(err).not.toBeNull();
    // Q2_K everywhere (2.625 bits) + rank-4 LoRA at 16 bits: 687104 − … → the message names the exact minimum.
    expect(err!.stderr).toMatch(/below the cheapest plan, which needs 3\.02\d\d bits per weight/);
    expect(err!.stderr).toMatch(/raise --budget to at least 3\.02\d\d/);
  });
});
