// Issue 21 item 3: "Export GGUF" of a LoRA run wrote only the quantized base,
// while its README reported the tuned perplexity and said `llama-cli -m
// model.gguf`. A run with LoRA factors now exports GGUF only with its adapter
// (GGUF + LoRA adapter), and each card says what its files hold and how to load
// them; a run with no LoRA factors still exports GGUF alone as the whole model.
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { memoryTarget } from '../helpers/export_target.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { ExportError } from '../../src/export/target.ts';
import { exportChoices, exportTuned, ggufFileName } from '../../src/export/export.ts';
import { plannedExports } from '../../src/export/plan.ts';
import { tunedModel, type TunedModel } from '../../src/export/tuned.ts';
import type { StateManifest } from '../../src/train/state.ts';

const path = fixture('models/stories260K-quantized/stories260K-q4_0.gguf');

/** A tuned model of the Q4_0 base with `method`'s manifest; `lora` adds one rank-2 factor pair on layer 0's q. */
async function tuned(method: 'lora' | 'peqa', lora: boolean): Promise<{ tm: TunedModel; close: () => Promise<void> }> {
  const base = await openModelPath(path!);
  const manifest = {
    format: 'sub4-trained-state', version: 1, method, quant: null, base: { path: path!, name: base.name }, data: { file: 'x.txt', bytes: 1 },
    seed: 0, steps: 3, batch: 1, seqLen: 8, lr: 1e-3, perplexity: { before: 12.5, after: 11.25 }, losses: { first: 2.6, last: 2.4 },
    trainMethod: method, trainConfig: { method }, lora: null, tensorsFile: 'trained.safetensors', tensors: [], quantizedBase: [],
  } as StateManifest;
  const tm = await tunedModel(base, { manifest, tensors: new Map(), quantizedBase: new Map() }, 'state');
  const C = base.config.hiddenSize;
  if (lora) tm.lora = { rank: 2, alpha: 4, factors: [{ layer: 0, role: 'q', inFeatures: C, outFeatures: C, a: new Float32Array(2 * C).fill(0.01), b: new Float32Array(C * 2).fill(0.02) }] };
  return { tm, close: () => base.close() };
}

const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b);

describe.skipIf(!path)('GGUF export of a run with LoRA factors', () => {
  it('is offered only as GGUF + LoRA adapter, whose card says what each file holds and to load both', async () => {
    const { tm, close } = await tuned('lora', true);
    try {
      const choices = Object.fromEntries(exportChoices(tm).map((c) => [c.format, c]));
      expect(choices.gguf.ok).toBe(false);
      expect(choices.gguf.detail).toContain(`LoRA factors, which a lone ${ggufFileName(tm)} does not hold: export GGUF + LoRA adapter (run it with --lora adapter.gguf)`);
      expect(choices['gguf-lora'].ok).toBe(true);
      const refused = memoryTarget();
      await expect(exportTuned(tm, 'gguf', refused)).rejects.toBeInstanceOf(ExportError);
      expect([...refused.files.keys()]).toEqual([]);

      const mem = memoryTarget();
      const r = await exportTuned(tm, 'gguf-lora', mem);
      expect(r.files).toEqual([ggufFileName(tm), 'adapter.gguf', 'README.md']);
      const readme = text(mem.files.get('README.md'));
      console.log(readme.slice(readme.indexOf('## What the files hold')));
      const name = ggufFileName(tm);
      expect(readme).toContain(`\`${name}\`: the quantized base, unchanged; on its own it is not the tuned model`);
      expect(readme).toContain(`\`adapter.gguf\`: the LoRA factors (rank 2, alpha 4, 1 layers); the held-out perplexity after is that of ${name} with this adapter applied`);
      expect(readme).toContain(`llama-cli -m ${name} --lora adapter.gguf`);
      expect(readme).not.toContain(`llama-cli -m ${name} -p`);
    } finally {
      await close();
    }
  });

  it('a run without LoRA factors exports GGUF alone, as the whole tuned model', async () => {
    const { tm, close } = await tuned('peqa', false);
    try {
      expect(exportChoices(tm).find((c) => c.format === 'gguf')?.ok).toBe(true);
      const mem = memoryTarget();
      await exportTuned(tm, 'gguf', mem);
      const readme = text(mem.files.get('README.md'));
      expect(readme).toContain(`\`${ggufFileName(tm)}\`: the whole tuned model (the base's integer codes with the tuned scales)`);
      expect(readme).toContain(`llama-cli -m ${ggufFileName(tm)} -p`);
      expect(readme).not.toContain('--lora');
    } finally {
      await close();
    }
  });

  it('the plan before training says the same', () => {
    const base = { format: 'gguf' as const, linearTypes: ['Q4_0'] };
    for (const method of ['lora', 'peqa+lora'] as const) {
      const p = Object.fromEntries(plannedExports({ method, quant: null, base }).map((x) => [x.format, x]));
      expect(p.gguf.exact).toBe(false);
      expect(p.gguf.why).toContain('GGUF + LoRA adapter');
      expect(p['gguf-lora'].exact).toBe(true);
    }
    expect(plannedExports({ method: 'peqa', quant: null, base })[0].exact).toBe(true);
  });
});
