// `sub4 convert <F32 model> --budget B --imatrix F` (post-training, no LoRA)
// through the bin entry, on random-llama-256 (256-wide rows: every GGUF type is
// a candidate) with its llama.cpp imatrix:
//  - the bits per weight counted from the written file's own blk.* linear tensor
//    bytes stay within B and equal the plan's;
//  - each linear tensor is stored in the plan's type, and the plan rides in the
//    GGUF metadata (general.sub4.budget.*);
//  - the importance-weighted error of the file's tensors, dequantized and compared
//    with the F32 file's, equals the plan's total error (the blocks written are
//    the blocks the plan measured);
//  - llama.cpp loads the file and its logits follow the F32 model's;
//  - a budget below the cheapest plan is refused, naming the minimum.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { readGguf, readTensorBytes } from '../../src/io/gguf/reader.ts';
import { fileSource } from '../../src/io/source.node.ts';
import { BLOCK_FORMATS, GgmlType, ggmlTypeName } from '../../src/quant/formats.ts';
import { importanceWeights, readImatrix } from '../../src/io/imatrix/index.ts';
import { fixture } from '../helpers/fixtures.ts';
import { refLogits, refModel, refTokenize } from '../helpers/llamacpp.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
const sub4 = (args: string[]) => run('node', [BIN, ...args], { timeout: 480_000, maxBuffer: 1 << 26 });
const model = fixture('models/random-llama-256/random-llama-256-F32.gguf');
const imatrix = fixture('models/random-llama-256/random-llama-256.imatrix.gguf');
const LINEAR = /^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/;
const dir = mkdtempSync(join(tmpdir(), 'sub4-convert-budget-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function corr(a: number[], b: number[]): number {
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const [ma, mb] = [mean(a), mean(b)];
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

async function open(path: string) {
  const src = await fileSource(path);
  const g = await readGguf(src);
  return { g, close: () => src.close?.() };
}

describe('sub4 convert --budget', () => {
  it('writes a mixed-type GGUF within the budget, carrying the plan, that llama.cpp loads', { timeout: 600_000 }, async () => {
    if (!model || !imatrix) return;
    const B = 3;
    const out = join(dir, 'b3.gguf');
    const { stdout } = await sub4(['convert', model, '--budget', String(B), '--imatrix', imatrix, '--out', out, '--json']);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l));
    const plan = lines.find((l) => l.type === 'plan');
    expect(plan.rows.length).toBe(14);
    expect(plan.rows.every((r: { rank: number }) => r.rank === 0)).toBe(true);

    const f = await open(out);
    const ref = await open(model);
    const im = await readImatrix(await fileSource(imatrix));
    try {
      let bytes = 0;
      let weights = 0;
      let error = 0;
      const refByName = new Map(ref.g.tensors.map((t) => [t.name, t]));
      for (const t of f.g.tensors) {
        if (!LINEAR.test(t.name)) continue;
        const raw = await readTensorBytes(f.g, t);
        const n = t.ne.map(Number).reduce((a, b) => a * b, 1);
        bytes += raw.length;
        weights += n;
        // The importance-weighted error of the stored blocks against the float weights (same GGUF row order).
        const fmt = BLOCK_FORMATS[t.type as keyof typeof BLOCK_FORMATS];
        const dq = new Float32Array(n);
        fmt.dequantize(raw, dq, n / fmt.blockSize);
        const rt = refByName.get(t.name)!;
        const r = await readTensorBytes(ref.g, rt);
        const w = new Float32Array(r.buffer, r.byteOffset, n);
        const cols = Number(t.ne[0]);
        const imp = importanceWeights(im, t.name)!;
        for (let i = 0; i < n; i++) error += imp[i % cols] * (w[i] - dq[i]) ** 2;
      }
      const bits = (8 * bytes) / weights;
      console.log(`budget ${B}: ${bytes} bytes for ${weights} linear weights = ${bits.toFixed(4)} bits per weight (plan ${plan.bits.toFixed(4)}); weighted error from the file ${error.toExponential(6)}, plan ${plan.error.toExponential(6)}`);
      expect(bits).toBeLessThanOrEqual(B);
      expect(bits).toBeCloseTo(plan.bits, 10);
      expect(Math.abs(error - plan.error) / plan.error).toBeLessThan(1e-5);

      // Each linear tensor in its planned type; the plan in the metadata.
      const types = new Map(f.g.tensors.map((t) => [t.name, ggmlTypeName(t.type)]));
      const kvPlan = f.g.kv.get('general.sub4.budget.plan')!.value as string[];
      expect(kvPlan.length).toBe(plan.rows.length);
      expect(f.g.kv.get('general.sub4.budget.bits_per_weight')!.value).toBeCloseTo(B, 5);
      expect(f.g.kv.get('general.sub4.budget.weighting')!.value).toBe('imatrix');
      const layer = (n: string) => /layers\.(\d+)\./.exec(n)![1];
      const gguf: Record<string, string> = { q_proj: 'attn_q', k_proj: 'attn_k', v_proj: 'attn_v', o_proj: 'attn_output', gate_proj: 'ffn_gate', up_proj: 'ffn_up', down_proj: 'ffn_down' };
      for (const r of plan.rows as { name: string; type: string }[]) {
        const role = /\.(\w+_proj)\.weight$/.exec(r.name)![1];
        expect(types.get(`blk.${layer(r.name)}.${gguf[role]}.weight`), r.name).toBe(r.type);
        expect(kvPlan.some((line) => line.startsWith(`${r.name} ${r.type} 0 `))).toBe(true);
      }
      expect(new Set(plan.rows.map((r: { type: string }) => r.type)).size, 'a mixed plan').toBeGreaterThan(1);
      expect(types.get('token_embd.weight')).toBe(ggmlTypeName(GgmlType.F16));
    } finally {
      await f.close();
      await ref.close();
    }

    // llama.cpp loads it; its logits follow the float model's about as well as llama.cpp's own IQ3_XXS file's
    // (3.06 bits per linear weight, its own per-tensor mix, the same imatrix): correlation over the positions.
    const ours = await refModel(out);
    const theirs = await refModel(model);
    const iq3 = fixture('models/random-llama-256/random-llama-256-IQ3_XXS.gguf');
    const other = iq3 ? await refModel(iq3) : null;
    if (!ours || !theirs || !other) return; // reason printed by the harness
    const ids = refTokenize(theirs, 'Once upon a time there was a little girl who lived in a village', { addBos: true });
    const flat = async (m: NonNullable<typeof ours>) => (await refLogits(m, ids)).flatMap((x) => [...x]);
    const b = await flat(theirs);
    const a = await flat(ours);
    expect(a.every(Number.isFinite)).toBe(true);
    const [cOurs, cIq3] = [corr(a, b), corr(await flat(other), b)];
    console.log(`llama.cpp logits vs the F32 model's: budget-3 file ${cOurs.toFixed(5)}, llama.cpp's IQ3_XXS file ${cIq3.toFixed(5)} (${a.length} values)`);
    expect(cOurs).toBeGreaterThan(cIq3 - 0.05);
  });

  it('refuses a budget below the cheapest plan, naming the minimum bits per weight', { timeout: 300_000 }, async () => {
    if (!model) return;
    // Q4_K (4.5 bits) and Q8_0 (8.5 bits) as the only candidates: the cheapest plan needs 4.5 bits per weight.
    const err = await sub4(['convert', model, '--budget', '4', '--types', 'Q4_K,Q8_0', '--out', join(dir, 'no.gguf')]).then(
      () => null,
      (e: { stderr: string; code: number }) => e,
    );
    expect(err, 'refused').not.toBeNull();
    expect(err!.stderr).toMatch(/below the cheapest plan, which needs 4\.5000 bits per weight/);
  });
});
