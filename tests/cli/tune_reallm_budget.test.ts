// `sub4 tune --method reallm --budget B` end to end through the bin entry on
// stories260K (f32 HF folder): the knapsack picks each matrix's learned-codebook
// shape (d, k) and LoRA rank (src/train/budget/vq_plan.ts), the plan is printed,
// the layers are built as planned and LoRA trains on them. Checked:
//  - the bits per weight counted from the output files (the state's codes at k
//    bits each, f16 row scales and tables, LoRA factors at 16 bits per value)
//    equal the plan's printed total and the manifest's, within the budget;
//  - the plan mixes configurations; `sub4 eval` of the state rebuilds the same
//    base (the same perplexity twice) and the GGUF re-encoding export writes each
//    layer at its own bits, which llama.cpp loads with the adapter and scores as sub4 does (≤ 0.5 %);
//  - AQLM: `sub4 export --format aqlm` of the mixed state is refused naming why
//    (one quantization_config per model); `--format aqlm` at tune time holds the
//    plan to one shared shape and the folder's config names it;
//  - a budget below the cheapest codebook per matrix is refused naming the minimum.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { gpuReady } from '../helpers/gpu_available.ts';
import { refLogits, refModel, refTokenize } from '../helpers/llamacpp.ts';
import { perplexity, pplWindows } from '../helpers/perplexity.ts';
import { openSafetensors } from '../../src/io/safetensors/reader.ts';
import { fileSource } from '../../src/io/source.node.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
const sub4 = (args: string[]) => run('node', [BIN, ...args], { timeout: 800_000 });
const shakespeare = fixture('data/tinyshakespeare/input.txt');
const hf = fixture('models/stories260K');
const TRAIN = ['--batch', '2', '--seq', '64'];

/** Bytes counted from the state files: per learned layer k-bit codes, f16 scales and table; LoRA at 16 bits. */
async function bitsFromFiles(out: string): Promise<{ bits: number; bytes: number; weights: number; shapes: Set<string> }> {
  const manifest = JSON.parse(readFileSync(join(out, 'sub4-run.json'), 'utf8'));
  const st = await openSafetensors(await fileSource(join(out, 'trained.safetensors')));
  try {
    let bytes = 0;
    let weights = 0;
    const shapes = new Set<string>();
    for (const b of manifest.vqBase) {
      const table = st.tensors.get(`base:${b.name}:table`)!;
      const scale = st.tensors.get(`base:${b.name}:scale`)!;
      const codes = st.tensors.get(`base:${b.name}:codes`)!;
      expect(codes, b.name).toBeDefined();
      const [entries, dim] = table.shape;
      const k = Math.log2(entries);
      expect(Number.isInteger(k), `${b.name}: ${entries} entries`).toBe(true);
      expect(scale.shape).toEqual([b.rows]);
      shapes.add(`vq-d${dim}k${k}`);
      bytes += Math.ceil((b.rows * (b.cols / dim) * k) / 8) + 2 * b.rows + 2 * entries * dim;
      weights += b.rows * b.cols;
    }
    for (const t of manifest.tensors) if (t.kind === 'lora-a' || t.kind === 'lora-b') bytes += 2 * t.shape.reduce((a: number, c: number) => a * c, 1);
    return { bits: (8 * bytes) / weights, bytes, weights, shapes };
  } finally {
    await st.close();
  }
}

describe('sub4 tune --method reallm --budget', () => {
  it('plans shapes and ranks per matrix; files hold the plan\'s bits; eval; GGUF re-encode; AQLM refused unless one shape', { timeout: 1_500_000 }, async () => {
    if (!(shakespeare && hf && gpuReady())) return;
    const dir = mkdtempSync(join(tmpdir(), 'sub4-reallm-budget-'));
    const text = readFileSync(shakespeare!, 'utf8');
    const cut = Math.floor(text.length * 0.9);
    writeFileSync(join(dir, 'train.txt'), text.slice(0, 12000));
    writeFileSync(join(dir, 'heldout.txt'), text.slice(cut, cut + 4000));
    const out = join(dir, 'run');
    const budget = 6;
    const t0 = performance.now();
    const tune = await sub4(['tune', hf!, '--method', 'reallm', '--budget', `${budget}`, '--steps', '2', ...TRAIN, '--data', join(dir, 'train.txt'), '--out', out]);
    const lines = tune.stdout.split('\n');
    const rows = lines.filter((l) => /^model\.layers\./.test(l));
    const total = lines.find((l) => l.startsWith('total: '))!;
    rows.forEach((l) => console.log(l));
    console.log(total);
    console.log(tune.stderr.split('\n').filter((l) => /ReALLM under the budget/.test(l)).join('\n'));
    console.log(`tune took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expect(rows).toHaveLength(35);
    const configs = new Set(rows.map((l) => l.split(/\s+/).slice(1, 3).join(' ')));
    expect(configs.size).toBeGreaterThan(1);
    const planned = Number(/= (\d+\.\d+) bits per weight/.exec(total)![1]);

    const manifest = JSON.parse(readFileSync(join(out, 'sub4-run.json'), 'utf8'));
    expect(manifest.method).toBe('reallm');
    expect(manifest.budget.method).toBe('reallm');
    const files = await bitsFromFiles(out);
    console.log(`from the files: ${files.bytes} bytes for ${files.weights} weights = ${files.bits.toFixed(4)} bits per weight (plan ${manifest.budget.bits.toFixed(4)}, printed ${planned}); shapes ${[...files.shapes].join(', ')}`);
    expect(files.bytes).toBe(manifest.budget.bytes);
    expect(files.bits).toBe(manifest.budget.bits);
    expect(files.bits.toFixed(4)).toBe(total.match(/= (\d+\.\d+)/)![1]);
    expect(files.bits).toBeLessThanOrEqual(budget);
    for (const r of manifest.budget.rows) expect(files.shapes.has(r.type)).toBe(true);

    // eval of the state: the same base rebuilt from the files each time.
    const ev = async () => JSON.parse((await sub4(['eval', out, '--data', join(dir, 'heldout.txt'), '--ctx', '64', '--windows', '4', '--json'])).stdout.trim().split('\n').at(-1)!).ppl as number;
    const p1 = await ev();
    const p2 = await ev();
    console.log(`sub4 eval of the state: perplexity ${p1.toFixed(4)}`);
    expect(Number.isFinite(p1)).toBe(true);
    expect(p2).toBe(p1);

    // AQLM: one quantization_config per model, and the shapes differ: refused naming why.
    if (files.shapes.size > 1) {
      const list = (await sub4(['export', out, '--list'])).stdout;
      expect(list).toMatch(/^aqlm\s+no .*quantization_config is global/m);
      await expect(sub4(['export', out, '--format', 'aqlm', '--out', join(dir, 'a')])).rejects.toThrow(/quantization_config is global.*codebook shapes/);
    }
    // GGUF re-encoding: each layer at its own ⌊k/d⌋ bits.
    const g = join(dir, 'gguf');
    await sub4(['export', out, '--format', 'gguf-lora', '--out', g]);
    const card = readFileSync(join(g, 'README.md'), 'utf8');
    expect(card).toMatch(/at its own ⌊k\/d⌋ bits per weight/);
    expect(existsSync(join(g, 'adapter.gguf'))).toBe(true);
    // llama.cpp loads the per-layer re-encoding with its adapter (ranks 0 absent) and scores as sub4 scores the same files
    // (F32 KV cache: llama.cpp's default f16 cache alone moved this run's perplexity by 0.5 %).
    const p = join(dir, 'peft');
    await sub4(['export', out, '--format', 'peft', '--out', p]);
    const model = join(g, readdirSync(g).find((f) => f.endsWith('.gguf') && f !== 'adapter.gguf')!);
    const sub4Gguf = JSON.parse((await sub4(['eval', model, '--lora', p, '--data', join(dir, 'heldout.txt'), '--ctx', '64', '--windows', '4', '--json'])).stdout.trim().split('\n').at(-1)!).ppl as number;
    const ref = await refModel(model);
    if (ref) {
      const wins = pplWindows(refTokenize(ref, readFileSync(join(dir, 'heldout.txt'), 'utf8')), ref.tokens.bos as number, 64, 4);
      const llama = (await perplexity(wins, (t) => refLogits(ref, t, { lora: join(g, 'adapter.gguf'), f32Cache: true }))).ppl;
      console.log(`re-encoded GGUF + adapter: sub4 ${sub4Gguf.toFixed(4)} (state ${p1.toFixed(4)}), llama.cpp ${llama.toFixed(4)} (${(100 * (llama / sub4Gguf - 1)).toFixed(3)} %)`);
      expect(Math.abs(llama / sub4Gguf - 1)).toBeLessThanOrEqual(0.005);
    }

    // --format aqlm: the plan is held to one shape, and the AQLM folder says it.
    const out2 = join(dir, 'run-aqlm');
    const tune2 = await sub4(['tune', hf!, '--method', 'reallm', '--budget', `${budget}`, '--steps', '1', ...TRAIN, '--data', join(dir, 'train.txt'), '--out', out2, '--format', 'aqlm']);
    const types2 = new Set(tune2.stdout.split('\n').filter((l) => /^model\.layers\./.test(l)).map((l) => l.split(/\s+/)[1]));
    console.log(`--format aqlm: shapes ${[...types2].join(', ')}; ${tune2.stdout.split('\n').find((l) => l.startsWith('total: '))}`);
    expect(types2.size).toBe(1);
    const [, d, k] = /^vq-d(\d)k(\d+)$/.exec([...types2][0])!;
    const cfg = JSON.parse(readFileSync(join(out2, 'config.json'), 'utf8'));
    expect(cfg.quantization_config).toMatchObject({ quant_method: 'aqlm', in_group_size: Number(d), nbits_per_codebook: Number(k) });
    expect((await bitsFromFiles(out2)).bits).toBeLessThanOrEqual(budget);

    // Too small a budget: refused before building, naming the minimum.
    await expect(sub4(['tune', hf!, '--method', 'reallm', '--budget', '0.5', '--steps', '1', ...TRAIN, '--data', join(dir, 'train.txt'), '--out', join(dir, 'low')])).rejects.toThrow(
      /below the cheapest plan, which needs \d\.\d+ bits per weight.*raise --budget to at least/,
    );
  });
});
