// `sub4 export --format mlx` end to end: PEQA+LoRA on the stories260K HF folder,
// quantized by sub4 to 3 bits (codes straddling u32 words) and 4 bits in groups
// of 32, then the folder read back by the independent MLX reader
// (tests/helpers/mlx_reader.ts): every packed layer dequantizes to exactly the
// tuned model's weights, the 172-wide down_proj (no whole groups of 32) is the
// F32 of its tuned grid, config.json says how mlx-lm quantizes, and the mlx-lm
// adapter holds the run's LoRA factors transposed.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tunedModel } from '../../src/export/tuned.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { dequantizeQ } from '../../src/quant/qtensor.ts';
import { decodeTrainedState, STATE_MANIFEST_FILE, STATE_TENSORS_FILE } from '../../src/train/state.ts';
import { fixture } from '../helpers/fixtures.ts';
import { gpuReady } from '../helpers/gpu_available.ts';
import { f32Of, mlxDequantize, readSafetensorsFile } from '../helpers/mlx_reader.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
const sub4 = (args: string[]) => run('node', [BIN, ...args], { timeout: 240_000 });
const shakespeare = fixture('data/tinyshakespeare/input.txt');
const hf = fixture('models/stories260K');

describe('sub4 export --format mlx', () => {
  for (const bits of [3, 4])
    it(`PEQA+LoRA at ${bits} bits, groups of 32: the MLX folder reads back as the tuned model`, { timeout: 300_000 }, async () => {
      if (!shakespeare || !hf || !gpuReady()) return;
      const dir = mkdtempSync(join(tmpdir(), 'sub4-mlx-'));
      writeFileSync(join(dir, 'train.txt'), readFileSync(shakespeare, 'utf8').slice(0, 12000));
      const state = join(dir, 'state');
      await sub4(['tune', hf, '--data', join(dir, 'train.txt'), '--method', 'peqa+lora', '--bits', `${bits}`, '--group', '32', '--rank', '2', '--steps', '3', '--batch', '1', '--seq', '32', '--lr', '3e-3', '--eval-windows', '1', '--out', state]);
      const out = join(dir, 'mlx');
      await sub4(['export', state, '--format', 'mlx', '--out', out]);
      expect(readdirSync(out).sort()).toEqual(['README.md', 'adapter_config.json', 'adapters.safetensors', 'config.json', 'generation_config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);

      const st = await decodeTrainedState(readFileSync(join(state, STATE_MANIFEST_FILE), 'utf8'), readFileSync(join(state, STATE_TENSORS_FILE)));
      const base = await openModelPath(hf);
      try {
        const tm = await tunedModel(base, st, state);
        const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
        expect(cfg.quantization).toEqual({ group_size: 32, bits, mode: 'affine' });
        const { tensors, metadata } = readSafetensorsFile(readFileSync(join(out, 'model.safetensors')));
        expect(metadata.format).toBe('mlx');
        let packed = 0, dense = 0;
        for (const [name, l] of tm.linears) {
          const m = name.replace(/\.weight$/, '');
          const want = dequantizeQ(l.q);
          if (tensors.has(`${m}.scales`)) {
            packed++;
            expect(mlxDequantize(tensors.get(name)!, tensors.get(`${m}.scales`)!, tensors.get(`${m}.biases`)!, bits, 32)).toEqual(want);
          } else {
            dense++;
            expect(l.q.cols % 32).not.toBe(0);
            expect(f32Of(tensors.get(name)!)).toEqual(want);
          }
        }
        console.log(`${bits}-bit: ${packed} layers as MLX affine, ${dense} as F32 (in_features 172), all equal to the tuned weights`);
        expect(packed).toBeGreaterThan(dense);
        expect(f32Of(tensors.get('model.embed_tokens.weight')!)).toEqual(await base.tensors.get('model.embed_tokens.weight')!.readF32());

        const ac = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
        expect(ac.lora_parameters.rank).toBe(tm.lora!.rank);
        expect(ac.lora_parameters.scale).toBe(tm.lora!.alpha / tm.lora!.rank);
        const ad = readSafetensorsFile(readFileSync(join(out, 'adapters.safetensors'))).tensors;
        const R = tm.lora!.rank;
        for (const f of tm.lora!.factors) {
          const p = `model.layers.${f.layer}.${{ q: 'self_attn.q_proj', k: 'self_attn.k_proj', v: 'self_attn.v_proj', o: 'self_attn.o_proj', gate: 'mlp.gate_proj', up: 'mlp.up_proj', down: 'mlp.down_proj' }[f.role]}`;
          const a = f32Of(ad.get(`${p}.lora_a`)!);
          const b = f32Of(ad.get(`${p}.lora_b`)!);
          for (let i = 0; i < f.inFeatures; i++) for (let k = 0; k < R; k++) expect(a[i * R + k]).toBe(f.a[k * f.inFeatures + i]);
          for (let k = 0; k < R; k++) for (let o = 0; o < f.outFeatures; o++) expect(b[k * f.outFeatures + o]).toBe(f.b[o * R + k]);
        }
        expect(readFileSync(join(out, 'README.md'), 'utf8')).toContain('mlx_lm.generate --model path/to/this/folder --adapter-path');
      } finally {
        await base.close();
      }
    });

  it('a GGUF base is refused with the reason, before anything is written', { timeout: 120_000 }, async () => {
    const q4 = fixture('models/stories260K-quantized/stories260K-q4_0.gguf');
    if (!shakespeare || !q4 || !gpuReady()) return;
    const dir = mkdtempSync(join(tmpdir(), 'sub4-mlx-'));
    writeFileSync(join(dir, 'train.txt'), readFileSync(shakespeare, 'utf8').slice(0, 8000));
    const r = await sub4(['tune', q4, '--data', join(dir, 'train.txt'), '--method', 'peqa', '--steps', '1', '--format', 'mlx', '--out', join(dir, 'no')]).then(
      () => ({ code: 0, stderr: '' }),
      (e) => e as { code: number; stderr: string },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/mlx.*Hugging Face base folder/i);
  });
});
