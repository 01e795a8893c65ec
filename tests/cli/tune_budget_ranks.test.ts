// LQ-LoRA under a bit budget with per-matrix LoRA ranks (issue 15): without
// --rank, `sub4 tune --method lqlora --budget B` plans each matrix's rank among
// 0, 8, 16, 32, 64 (capped by its shape) with its type, and the trainer builds
// each layer's factors at that rank (0: none), scale alpha / r per matrix.
// On random-llama-256-F32 at 9.2 bits over Q4_K/Q8_0 (--types keeps the plan
// fast) the plan is Q8_0 everywhere with LoRA on most matrices and none on the
// others (measured: 16 on layer 0 q/k, 0 on both down_proj, 8 elsewhere; 9.1979 bits;
// llama.cpp 909.5195 vs sub4 eval 909.7682, −0.027 %). Checked:
//  - the plan's rank column holds more than one value;
//  - the adapter holds one lora_a/lora_b pair per matrix planned above rank 0,
//    at the planned rank (llama.cpp reads each pair's rank from its shape), and
//    none for rank-0 matrices;
//  - budgetRun's checks (tests/helpers/budget_files.ts): files ≤ B bits per
//    weight counted from the files, = the plan's; llama.cpp + the adapter
//    within 0.5 % of `sub4 eval` on the trained state.
import { describe, expect, it } from 'vitest';
import { gpuReady } from '../helpers/gpu_available.ts';
import { budgetModel, budgetRun, shakespeare } from '../helpers/budget_files.ts';

const ready = () => !!(shakespeare && budgetModel && gpuReady());
// The plan's rows: "model.layers.N.<module>.weight  TYPE  RANK  bytes …".
const ROW = /^model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)_proj\.weight\s+\S+\s+(\d+)\s/;
const GGUF = { q: 'attn_q', k: 'attn_k', v: 'attn_v', o: 'attn_output', gate: 'ffn_gate', up: 'ffn_up', down: 'ffn_down' } as Record<string, string>;

describe('sub4 tune --method lqlora --budget without --rank: per-matrix LoRA ranks', () => {
  it('9.2 bits over Q4_K/Q8_0: mixed ranks in the plan and the adapter, ≤ 9.2 bits from the files, llama.cpp + adapter = sub4 eval', { timeout: 1_200_000 }, async () => {
    if (!ready()) return;
    const { lines, measured } = await budgetRun(9.2, ['--types', 'Q4_K,Q8_0'], 2);
    const planned = new Map<string, number>();
    for (const l of lines) {
      const m = ROW.exec(l);
      if (m) planned.set(`blk.${m[1]}.${GGUF[m[3]]}.weight`, Number(m[4]));
    }
    expect(planned.size).toBe(14);
    const values = new Set(planned.values());
    console.log(`planned ranks: ${[...values].sort((a, b) => a - b).join(', ')}; adapter pairs ${measured.ranks.size}`);
    expect(values.size).toBeGreaterThan(1);
    for (const [name, r] of planned) expect(measured.ranks.get(name) ?? 0).toBe(r);
    expect(measured.ranks.size).toBe([...planned.values()].filter((r) => r > 0).length);
  });
});
