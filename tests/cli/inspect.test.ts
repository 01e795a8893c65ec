// `sub4 inspect --json` on the GGUF and the HF folder of the same real model.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;

describe('sub4 inspect', () => {
  for (const rel of ['models/stories260K.gguf', 'models/stories260K'])
    it(rel, async () => {
      const path = fixture(rel);
      if (!path) return;
      const { stdout } = await run('node', [BIN, 'inspect', path, '--json']);
      const f = JSON.parse(stdout);
      expect(f.architecture).toBe('llama');
      expect(f.config).toMatchObject({ hiddenSize: 64, intermediateSize: 172, numLayers: 5, numHeads: 8, numKvHeads: 4, headDim: 8, vocabSize: 512 });
      // SOURCES.md: 260,032 unique parameters; the GGUF stores the tied LM head again (292,800 values).
      expect(f.storedParameters).toBe(rel.endsWith('.gguf') ? 292_800 : 260_032);
      expect(f.tensorTypes.F32.tensors).toBe(rel.endsWith('.gguf') ? 48 : 47);
      expect(f.bitsPerWeight).toBe(32);
      // A base model: no chat template; BOS <s>, EOS </s>; and nothing says it was fine-tuned.
      expect(f.tokenizer).toMatchObject({ kind: rel.endsWith('.gguf') ? 'gguf-llama' : 'hf', vocabSize: 512, chatTemplate: false, bos: { id: 1, text: '<s>' }, eos: [{ id: 2, text: '</s>' }] });
      expect(f.finetune).toBeNull();
      expect(f.fileBytes).toBe(rel.endsWith('.gguf') ? 1185376 : 1044992);
      expect(f.trainingMemory.peqa.total).toBeGreaterThan(0);
      expect(f.trainingMemory.lora.total).toBeGreaterThan(f.trainingMemory.peqa.parts.base);
    });

  it('a quantized GGUF reports its block types and bits per weight', async () => {
    const path = fixture('models/random-llama-256/random-llama-256-Q4_K_M.gguf');
    if (!path) return;
    const f = JSON.parse((await run('node', [BIN, 'inspect', path, '--json'])).stdout);
    expect(Object.keys(f.tensorTypes).sort()).toEqual(['F32', 'Q4_K', 'Q6_K']);
    expect(f.bitsPerWeight).toBeGreaterThan(4.5);
    expect(f.bitsPerWeight).toBeLessThan(5.5);
  });

  it('a missing path is a clear error, exit 1', async () => {
    const err = await run('node', [BIN, 'inspect', '/nonexistent/model.gguf']).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toMatch(/nonexistent\/model\.gguf: no such file or folder/);
  });
});
