// `sub4 tune --method reallm` end to end through the bin entry: stories260K
// (f32 HF folder) split into learned codebooks (--bits 2: 1×8-bit codes of 4
// weights, since down_proj's 172 inputs are not a multiple of 8) plus a rank-4
// correction, LoRA trained on that frozen base; `sub4 eval <state>` rebuilds the
// same base from the state; `sub4 export --format aqlm` writes the AQLM folder
// with the PEFT adapter beside it, which sub4 re-imports (`sub4 eval E --lora E`)
// within 0.1 % of the state's perplexity (the f16 tables, scales and plain
// tensors are the only change). No Python AQLM loader is available here, so the
// folder is checked through sub4's own AQLM importer only. With --train-codebooks
// (tables and row scales trained, codes frozen) the same checks hold for the
// trained tables the state keeps.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { gpuReady } from '../helpers/gpu_available.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { decodeTrainedState } from '../../src/train/state.ts';
import { f16Table, f32ToF16 } from '../../src/quant/f16.ts';
import { dequantizeVq } from '../../src/quant/vq/vqtensor.ts';
import { dequantizeAqlmFolder } from '../helpers/aqlm_reference.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
const sub4 = (args: string[]) => run('node', [BIN, ...args], { timeout: 800_000 });
const shakespeare = fixture('data/tinyshakespeare/input.txt');
const hf = fixture('models/stories260K');
const CTX = 64;
const WINDOWS = 4;

const evalPpl = async (args: string[], heldout: string) => JSON.parse((await sub4(['eval', ...args, '--data', heldout, '--ctx', `${CTX}`, '--windows', `${WINDOWS}`, '--json'])).stdout.trim().split('\n').at(-1)!).ppl as number;

/**
 * `sub4 export --format aqlm` of the run in `out`: the folder's layers are the state's (codes bit for bit,
 * tables and row scales its f16 rounding — the trained ones when the codebooks trained), an independent reader
 * reproduces sub4's effective weights exactly, and AQLM + PEFT re-imported scores the state within 0.1 %.
 */
async function exportAndCheck(out: string, dir: string): Promise<void> {
  const e = join(dir, 'aqlm');
  const heldout = join(dir, 'heldout.txt');
  const statePpl = await evalPpl([out], heldout);
  const statePpl2 = await evalPpl([out], heldout);
  expect(statePpl2).toBe(statePpl); // the same base rebuilt from the state each time

  await sub4(['export', out, '--format', 'aqlm', '--out', e]);
  for (const f of ['model.safetensors', 'config.json', 'adapter_config.json', 'adapter_model.safetensors', 'README.md', 'tokenizer.json']) expect(existsSync(join(e, f)), f).toBe(true);
  const cfg = JSON.parse(readFileSync(join(e, 'config.json'), 'utf8'));
  expect(cfg.quantization_config).toMatchObject({ quant_method: 'aqlm', in_group_size: 4, nbits_per_codebook: 8, num_codebooks: 1, out_group_size: 1 });
  // The exported layers are the state's: codes bit for bit, tables and row scales its f16 rounding.
  const state = await decodeTrainedState(readFileSync(join(out, 'sub4-run.json'), 'utf8'), new Uint8Array(readFileSync(join(out, 'trained.safetensors'))));
  const f16 = (v: Float32Array) => Float32Array.from(v, (x) => f16Table()[f32ToF16(x)]);
  const imported = await openModelPath(e);
  try {
    for (const [name, q] of state.vqBase) {
      const got = await imported.tensors.get(name)!.readVq!();
      expect(got.codes, name).toEqual(q.codes);
      expect(got.codebook.values, name).toEqual(f16(q.codebook.values));
      expect(got.scale, name).toEqual(f16(q.scale));
    }
  } finally {
    await imported.close();
  }
  // An independent reader (its own safetensors parse and the published dequantization formula) gives sub4's
  // effective weights exactly: the state's layers with f16 tables and row scales.
  const byFormula = dequantizeAqlmFolder(e);
  expect(byFormula.size).toBe(state.vqBase.size);
  for (const [name, q] of state.vqBase) {
    const ref = byFormula.get(name.replace(/\.weight$/, ''))!;
    const ours = dequantizeVq({ ...q, codebook: { ...q.codebook, values: f16(q.codebook.values) }, scale: f16(q.scale) });
    expect([ref.rows, ref.cols], name).toEqual([q.rows, q.cols]);
    expect(ref.w.findIndex((v, i) => v !== ours[i]), `${name}: first weight that differs`).toBe(-1);
  }
  const aqlmPpl = await evalPpl([e, '--lora', e], heldout);
  const noLora = await evalPpl([e], heldout);
  console.log(`held-out perplexity: state ${statePpl.toFixed(4)}, AQLM + PEFT re-imported ${aqlmPpl.toFixed(4)} (${(100 * (aqlmPpl / statePpl - 1)).toFixed(4)} %), AQLM without the adapter ${noLora.toFixed(4)}`);
  expect(Math.abs(aqlmPpl / statePpl - 1)).toBeLessThanOrEqual(0.001);
  expect(noLora).not.toBe(aqlmPpl);
}

describe('sub4 tune --method reallm', () => {
  it('trains LoRA on a learned-VQ base, evals the state, exports AQLM + PEFT that sub4 reloads within 0.1 %', { timeout: 900_000 }, async () => {
    if (!(shakespeare && hf && gpuReady())) return;
    const dir = mkdtempSync(join(tmpdir(), 'sub4-reallm-'));
    const text = readFileSync(shakespeare!, 'utf8');
    const cut = Math.floor(text.length * 0.9);
    writeFileSync(join(dir, 'train.txt'), text.slice(0, 12000));
    writeFileSync(join(dir, 'heldout.txt'), text.slice(cut, cut + 8000));
    const out = join(dir, 'run');
    const tune = await sub4(['tune', hf!, '--method', 'reallm', '--bits', '2', '--rank', '4', '--steps', '4', '--batch', '2', '--seq', '64', '--data', join(dir, 'train.txt'), '--out', out]);
    const reallmLines = tune.stderr.split('\n').filter((l) => /ReALLM/.test(l));
    reallmLines.forEach((l) => console.log(l));
    console.log(tune.stdout.trim().split('\n').at(-1));
    const manifest = JSON.parse(readFileSync(join(out, 'sub4-run.json'), 'utf8'));
    expect(manifest.method).toBe('reallm');
    expect(manifest.trainMethod).toBe('lora');
    expect(manifest.reallm).toMatchObject({ dim: 4, bits: 8, rank: 4 });
    expect(manifest.vqBase).toHaveLength(5 * 7);
    console.log(`perplexity before/after the run: ${manifest.perplexity.before.toFixed(3)} → ${manifest.perplexity.after.toFixed(3)}; ${manifest.reallm.bitsPerWeight.toFixed(3)} bits per linear weight (codes ${(8 / 4).toFixed(3)}, + f16 row scales and tables; LoRA not counted)`);

    const list = (await sub4(['export', out, '--list'])).stdout;
    console.log(list.trim());
    expect(list).toMatch(/^aqlm\s+yes/m);
    expect(list).toMatch(/^gguf\s+no .*learned codebooks/m);

    await exportAndCheck(out, dir);

    // GGUF is refused with the reason.
    await expect(sub4(['export', out, '--format', 'gguf', '--out', join(dir, 'g')])).rejects.toThrow(/learned codebooks/);
  });

  it('--train-codebooks: the trained tables and row scales go into the state and the AQLM folder', { timeout: 1_500_000 }, async () => {
    if (!(shakespeare && hf && gpuReady())) return;
    const dir = mkdtempSync(join(tmpdir(), 'sub4-reallm-cb-'));
    const text = readFileSync(shakespeare!, 'utf8');
    const cut = Math.floor(text.length * 0.9);
    writeFileSync(join(dir, 'train.txt'), text.slice(0, 12000));
    writeFileSync(join(dir, 'heldout.txt'), text.slice(cut, cut + 8000));
    const out = join(dir, 'run');
    await sub4(['tune', hf!, '--method', 'reallm', '--bits', '2', '--rank', '4', '--steps', '3', '--batch', '2', '--seq', '64', '--train-codebooks', '--data', join(dir, 'train.txt'), '--out', out]);
    const state = await decodeTrainedState(readFileSync(join(out, 'sub4-run.json'), 'utf8'), new Uint8Array(readFileSync(join(out, 'trained.safetensors'))));
    expect(state.manifest.trainConfig.codebooks).toBe(true);
    // The base the state keeps is the trained one: each layer's codebook tensor, unpadded, and its row scales.
    const name = 'model.layers.2.self_attn.v_proj.weight';
    const q = state.vqBase.get(name)!;
    expect(Array.from(state.tensors.get('layers.2.v.codebook')!.subarray(0, q.codebook.values.length))).toEqual(Array.from(q.codebook.values));
    expect(Array.from(state.tensors.get('layers.2.v.row_scale')!)).toEqual(Array.from(q.scale));
    await exportAndCheck(out, dir);
    await expect(sub4(['tune', hf!, '--method', 'lora', '--train-codebooks', '--data', join(dir, 'train.txt')])).rejects.toThrow(/--train-codebooks .* needs --method reallm/);
  });

  it('refuses what it cannot do, naming the flag or the layer, and takes an imatrix', { timeout: 300_000 }, async () => {
    if (!(shakespeare && hf && gpuReady())) return;
    const dir = mkdtempSync(join(tmpdir(), 'sub4-reallm-'));
    writeFileSync(join(dir, 'train.txt'), readFileSync(shakespeare!, 'utf8').slice(0, 6000));
    const base = ['tune', hf!, '--method', 'reallm', '--rank', '4', '--batch', '2', '--seq', '64', '--data', join(dir, 'train.txt')];
    await expect(sub4([...base, '--out', join(dir, 'a')])).rejects.toThrow(/--method reallm needs --bits/);
    await expect(sub4([...base, '--bits', '2', '--vq-dim', '8', '--out', join(dir, 'b')])).rejects.toThrow(/down_proj\.weight has 172 inputs, not a whole number of 8-weight vectors/);
    await expect(sub4([...base, '--bits', '2', '--format', 'gguf', '--out', join(dir, 'c')])).rejects.toThrow(/learned codebook has no GGUF type/);
    await expect(sub4(['tune', hf!, '--method', 'lora', '--vq-dim', '4', '--data', join(dir, 'train.txt')])).rejects.toThrow(/need --method reallm/);
    // --imatrix weights the split; --vq-dim 2 --vq-bits 6 overrides the rule; 0 steps: the base and its state only.
    const imatrix = fixture('models/stories260K-quantized/stories260K.imatrix.gguf');
    if (!imatrix) return;
    const out = join(dir, 'im');
    const r = await sub4([...base, '--vq-dim', '2', '--vq-bits', '6', '--imatrix', imatrix, '--steps', '0', '--out', out]);
    const lines = r.stderr.split('\n').filter((l) => /ReALLM/.test(l));
    lines.forEach((l) => console.log(l));
    expect(lines.join('\n')).toMatch(/2\^6 entries of 2 weights .*importance-weighted/);
    expect(lines.join('\n')).toMatch(/35 of 35 layers weighted by the imatrix/);
    const manifest = JSON.parse(readFileSync(join(out, 'sub4-run.json'), 'utf8'));
    expect(manifest.reallm).toMatchObject({ dim: 2, bits: 6 });
    expect(manifest.vqBase[0]).toMatchObject({ dim: 2, entries: 64, indexBits: 8 });
  });
});
