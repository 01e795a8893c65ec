// What the start screen promises (plannedExports) and what export does when a
// write fails: the file is aborted, nothing is committed under its name, and
// the error reaches the caller.
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { memoryTarget } from '../helpers/export_target.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import type { CommitSink, ExportTarget } from '../../src/export/target.ts';
import { baseHubId, exportChoices, exportTuned, ggufFileName } from '../../src/export/export.ts';
import { modelCard, type CardFacts } from '../../src/export/model_card.ts';
import { openModel } from '../../src/io/model.ts';
import { bytesSource } from '../../src/io/source.ts';
import { modelFacts } from '../../src/model/facts.ts';
import { plannedExports, type RunShape } from '../../src/export/plan.ts';
import { tunedModel } from '../../src/export/tuned.ts';
import type { StateManifest } from '../../src/train/state.ts';

const exact = (r: RunShape) => Object.fromEntries(plannedExports(r).map((p) => [p.format, p.exact]));

describe('plannedExports', () => {
  it('follows the grid, the method and the base', () => {
    const hf = { format: 'hf' as const, linearTypes: ['F32'] };
    expect(exact({ method: 'peqa', quant: { bits: 4, groupSize: 32 }, base: hf })).toEqual({ gguf: true, 'gguf-lora': false, peft: false, gptq: true, mlx: true, aqlm: false, merged: true });
    expect(exact({ method: 'peqa', quant: { bits: 2, groupSize: 32 }, base: hf })).toEqual({ gguf: false, 'gguf-lora': false, peft: false, gptq: true, mlx: true, aqlm: false, merged: true });
    expect(exact({ method: 'lqlora', quant: { bits: 3, groupSize: 'channel' }, base: hf })).toEqual({ gguf: false, 'gguf-lora': false, peft: true, gptq: true, mlx: false, aqlm: false, merged: true }); // MLX has no per-channel grid
    expect(exact({ method: 'lora', quant: null, base: hf })).toEqual({ gguf: false, 'gguf-lora': true, peft: true, gptq: false, mlx: false, aqlm: false, merged: true }); // a lone GGUF would lack the factors
    const q4k = { format: 'gguf' as const, linearTypes: ['Q4_K', 'Q6_K'] };
    expect(exact({ method: 'peqa+lora', quant: null, base: q4k })).toEqual({ gguf: false, 'gguf-lora': true, peft: true, gptq: false, mlx: false, aqlm: false, merged: false });
    expect(exact({ method: 'peqa', quant: null, base: { format: 'hf', linearTypes: ['GPTQ 4-bit g128'] } }).mlx).toBe(true);
    // DoRA: no llama.cpp or mlx-lm adapter holds magnitudes; PEFT refuses DoRA on AQLM; merged always (HF bases).
    expect(exact({ method: 'lora', quant: null, dora: true, base: hf })).toEqual({ gguf: false, 'gguf-lora': false, peft: true, gptq: false, mlx: false, aqlm: false, merged: true });
    expect(exact({ method: 'reallm', quant: null, dora: true, base: hf })).toEqual({ gguf: false, 'gguf-lora': false, peft: false, gptq: false, mlx: false, aqlm: false, merged: true });
    expect(plannedExports({ method: 'reallm', quant: null, dora: true, base: hf }).find((p) => p.format === 'aqlm')!.why).toMatch(/PEFT refuses DoRA on AQLM/);
    // ReALLM's approximate GGUF + LoRA adapter is writable without DoRA; with it, refused saying why (as export_dora.ts).
    expect(plannedExports({ method: 'reallm', quant: null, base: hf }).find((p) => p.format === 'gguf-lora')!.why).toMatch(/^approximate/);
    expect(plannedExports({ method: 'reallm', quant: null, dora: true, base: hf }).find((p) => p.format === 'gguf-lora')!.why).toMatch(/DoRA adapter's magnitude vectors/);
    expect(plannedExports({ method: 'peqa', quant: { bits: 4, groupSize: 16 }, base: hf }).find((p) => p.format === 'mlx')!.why).toMatch(/groups of 16 is not an MLX grid/);
    expect(plannedExports({ method: 'peqa', quant: { bits: 3, groupSize: 64 }, base: hf })[0].why).toMatch(/3-bit groups of 64 has no GGUF block type/);
    // ReALLM's learned codebooks: AQLM (+ PEFT) or the adapter alone; no GGUF/GPTQ/MLX type holds a learned table.
    expect(exact({ method: 'reallm', quant: null, base: hf })).toEqual({ gguf: false, 'gguf-lora': false, peft: true, gptq: false, mlx: false, aqlm: true, merged: true });
    expect(plannedExports({ method: 'reallm', quant: null, base: hf })[0].why).toMatch(/learned codebook has no GGUF type/);
    expect(plannedExports({ method: 'reallm', quant: null, base: hf })[1].why).toMatch(/^approximate: .*nearest GGUF type.*error is reported/);
    // Said before training (the studio shows it under the formats): AQLM's layout is one scale per output row.
    expect(plannedExports({ method: 'reallm', quant: null, base: hf }).find((p) => p.format === 'aqlm')!.why).toMatch(/one scale per output row/);
    expect(exact({ method: 'lora', quant: null, base: { format: 'hf', linearTypes: ['AQLM 1x16 g8'] } }).aqlm).toBe(true);
    expect(plannedExports({ method: 'lora', quant: null, base: hf }).find((p) => p.format === 'aqlm')!.why).toMatch(/--method reallm/);
  });
});

describe('a failed export write', () => {
  it('aborts the file and commits nothing under its name', async () => {
    const path = fixture('models/stories260K-quantized/stories260K-q4_0.gguf');
    if (!path) return;
    const base = await openModelPath(path);
    try {
      const manifest = {
        format: 'sub4-trained-state', version: 1, method: 'lora', quant: null, base: { path, name: base.name }, data: { file: 'x.txt', bytes: 1 },
        seed: 0, steps: 0, batch: 1, seqLen: 8, lr: 0, perplexity: { before: null, after: null }, losses: { first: null, last: null },
        trainMethod: 'lora', trainConfig: { method: 'lora' }, lora: null, tensorsFile: 'trained.safetensors', tensors: [], quantizedBase: [],
      } as StateManifest;
      const tm = await tunedModel(base, { manifest, tensors: new Map(), quantizedBase: new Map() }, 'state');
      expect(exportChoices(tm).find((c) => c.format === 'gguf')?.ok).toBe(true);
      const mem = memoryTarget();
      let written = 0;
      const failing: ExportTarget = {
        async create(name): Promise<CommitSink> {
          const inner = await mem.create(name);
          return {
            ...inner,
            write(b) {
              written += b.length;
              if (written > 50_000) throw new Error('disk full');
              return inner.write(b);
            },
          };
        },
      };
      await expect(exportTuned(tm, 'gguf', failing)).rejects.toThrow('disk full');
      expect(mem.aborted).toEqual(['stories260K-q4_0-lora-Q4_0.gguf']);
      expect([...mem.files.keys()]).toEqual([]);
      await expect(exportTuned(tm, 'peft', mem)).rejects.toThrow(/peft export: this run trained no LoRA factors/);
    } finally {
      await base.close();
    }
  });
});

describe('what an export is called, and how its README loads the base', () => {
  it('the GGUF is named after the model, the method and the bits, not model.gguf', async () => {
    const path = fixture('models/stories260K-quantized/stories260K-q4_0.gguf');
    if (!path) return;
    const base = await openModelPath(path);
    try {
      const manifest = {
        format: 'sub4-trained-state', version: 1, method: 'peqa', quant: null, base: { path, name: base.name }, data: { file: 'x.txt', bytes: 1 },
        seed: 0, steps: 0, batch: 1, seqLen: 8, lr: 0, perplexity: { before: null, after: null }, losses: { first: null, last: null },
        trainMethod: 'peqa', trainConfig: { method: 'peqa' }, lora: null, tensorsFile: 'trained.safetensors', tensors: [], quantizedBase: [],
      } as StateManifest;
      const tm = await tunedModel(base, { manifest, tensors: new Map(), quantizedBase: new Map() }, 'state');
      // Its linear layers are Q4_0 but for five F16 ffn_down (172 columns fit no block of 32): the main type names it.
      expect(ggufFileName(tm)).toBe('stories260K-q4_0-peqa-Q4_0.gguf');
      expect(ggufFileName({ ...tm, manifest: { ...manifest, method: 'peqa+lora', quant: { bits: 4, groupSize: 32 } } })).toBe('stories260K-q4_0-peqa-lora-4bit.gguf');
      const mem = memoryTarget();
      await exportTuned(tm, 'gguf', mem);
      expect([...mem.files.keys()].sort()).toEqual(['README.md', 'stories260K-q4_0-peqa-Q4_0.gguf']);
      // A GGUF base names no Hub id.
      expect(baseHubId(tm)).toBeNull();
      // Loaded again, the export's card facts say what it was tuned as (the base says nothing of the kind).
      expect(modelFacts(base).finetune).toBeNull();
      const again = await openModel({ kind: 'gguf', source: bytesSource(mem.files.get('stories260K-q4_0-peqa-Q4_0.gguf')!, 'tuned.gguf') });
      try {
        expect(modelFacts(again).finetune).toMatch(/^sub4 peqa fine-tune of stories260K-q4_0\.gguf: .*; 0 steps on x\.txt/);
      } finally {
        await again.close();
      }
    } finally {
      await base.close();
    }
  });

  it("the PEFT README loads the base by its Hub id when known; else from its folder, saying so", () => {
    const facts: CardFacts = {
      format: 'peft', files: ['adapter_model.safetensors', 'adapter_config.json'], base: 'stories260K', baseId: null, method: 'lora', quant: '4-bit',
      steps: 10, data: { file: 'd.txt', bytes: 1 }, seqLen: 64, batch: 1, lr: 1e-3, seed: 0, perplexity: { before: null, after: null }, lora: { rank: 8, alpha: 16 }, contents: [], notes: [],
    };
    const local = modelCard(facts);
    expect(local).not.toContain('from_pretrained("stories260K")');
    expect(local).toContain('from_pretrained("path/to/stories260K")');
    expect(local).toMatch(/files name no Hub id/);
    expect(local).not.toMatch(/^base_model:/m);
    const hub = modelCard({ ...facts, baseId: 'HuggingFaceTB/SmolLM2-135M' });
    expect(hub).toContain('from_pretrained("HuggingFaceTB/SmolLM2-135M")');
    expect(hub).toMatch(/^base_model: "HuggingFaceTB\/SmolLM2-135M"$/m);
    const hf = (id: unknown) => ({ base: { hf: { configJson: { _name_or_path: id } } } }) as unknown as Parameters<typeof baseHubId>[0];
    expect(baseHubId(hf('HuggingFaceTB/SmolLM2-135M'))).toBe('HuggingFaceTB/SmolLM2-135M');
    expect(baseHubId(hf('/home/me/models/smol'))).toBeNull();
    expect(baseHubId(hf('./smol'))).toBeNull();
    expect(baseHubId(hf('smol'))).toBeNull();
  });
});
