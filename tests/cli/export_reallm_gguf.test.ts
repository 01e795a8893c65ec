// A ReALLM run exported for llama.cpp, end to end through the bin entry:
// `sub4 tune stories260K --method reallm --bits 2` → `sub4 export --format
// gguf-lora`, which re-encodes each learned-codebook layer into the nearest
// 2-bit GGUF type (src/export/reallm_gguf.ts; stories260K's 64- and 172-wide rows
// fall back as llama-quantize does: IQ4_NL / Q4_0 / F16) and writes the LoRA
// factors unchanged into adapter.gguf. Then:
//  - the GGUF read back by sub4 (q/k rows back in engine order) differs from the
//    state's VQ weight by exactly the per-layer error the export reports;
//  - llama.cpp (node-llama-cpp) on the exported GGUF + adapter.gguf scores as
//    sub4 on the same GGUF with the same factors (`sub4 eval <gguf> --lora
//    <peft export>`: sub4's eval takes PEFT adapters) within 0.5 %;
//  - `sub4 eval` of the reallm state is printed beside them, with the added
//    error the export reports, so the cost of the re-encoding is visible. (--bits 2
//    is a 2^8-entry table of 4-weight vectors on stories260K's 172-wide rows: a real
//    codebook, unlike 3 bits, whose 2^12 entries outnumber a 64×64 layer's 1024
//    vectors; it also keeps the codebook fit short.)
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { gpuReady } from '../helpers/gpu_available.ts';
import { refLogits, refModel, refTokenize } from '../helpers/llamacpp.ts';
import { perplexity, pplWindows } from '../helpers/perplexity.ts';
import { openModelPath } from '../../src/io/model.node.ts';
import { decodeTrainedState } from '../../src/train/state.ts';
import { dequantizeVq } from '../../src/quant/vq/vqtensor.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
const sub4 = (args: string[]) => run('node', [BIN, ...args], { timeout: 600_000 });
const shakespeare = fixture('data/tinyshakespeare/input.txt');
const hf = fixture('models/stories260K');
const CTX = 64;
const WINDOWS = 4;

const evalPpl = async (args: string[], heldout: string) => JSON.parse((await sub4(['eval', ...args, '--data', heldout, '--ctx', `${CTX}`, '--windows', `${WINDOWS}`, '--json'])).stdout.trim().split('\n').at(-1)!).ppl as number;

async function llamaCppPpl(model: string, heldout: string, lora: string): Promise<number | null> {
  const ref = await refModel(model);
  if (!ref) return null;
  const wins = pplWindows(refTokenize(ref, readFileSync(heldout, 'utf8')), ref.tokens.bos as number, CTX, WINDOWS);
  return (await perplexity(wins, (t) => refLogits(ref, t, { lora }))).ppl;
}

describe('sub4 export --format gguf-lora of a ReALLM run', () => {
  it('re-encodes the learned codebooks into GGUF types, reports the added error, and llama.cpp + adapter.gguf scores as sub4 on the same files', { timeout: 1_500_000 }, async () => {
    if (!(shakespeare && hf && gpuReady())) return;
    const dir = mkdtempSync(join(tmpdir(), 'sub4-reallm-gguf-'));
    const text = readFileSync(shakespeare!, 'utf8');
    const cut = Math.floor(text.length * 0.9);
    writeFileSync(join(dir, 'train.txt'), text.slice(0, 12000));
    writeFileSync(join(dir, 'heldout.txt'), text.slice(cut, cut + 8000));
    const heldout = join(dir, 'heldout.txt');
    const out = join(dir, 'run');
    await sub4(['tune', hf!, '--method', 'reallm', '--bits', '2', '--rank', '4', '--steps', '4', '--batch', '2', '--seq', '64', '--data', join(dir, 'train.txt'), '--out', out]);

    const list = (await sub4(['export', out, '--list'])).stdout;
    expect(list).toMatch(/^gguf-lora\s+yes\s+stories260K-reallm-2bit\.gguf \(approximate: .*nearest 2-bit GGUF type.*added error is measured and reported/m);
    expect(list).toMatch(/^gguf\s+no .*learned codebooks/m);

    const g = join(dir, 'gguf-lora');
    const res = await sub4(['export', out, '--format', 'gguf-lora', '--out', g]);
    const model = join(g, 'stories260K-reallm-2bit.gguf');
    const adapter = join(g, 'adapter.gguf');
    for (const f of [model, adapter, join(g, 'README.md')]) expect(existsSync(f), f).toBe(true);
    const notes = res.stderr.split('\n').filter((l) => /added error/.test(l));
    notes.forEach((l) => console.log(l));
    const total = /added error ‖W_gguf − W_vq‖\/‖W_vq‖ ([\d.]+) % in total over (\d+) layers/.exec(notes[0]);
    expect(total).not.toBeNull();
    expect(Number(total![2])).toBe(5 * 7);
    expect(notes).toHaveLength(1 + 5 * 7);
    const card = readFileSync(join(g, 'README.md'), 'utf8');
    expect(card).toMatch(/added error .* in total/);
    expect(card).toMatch(/model\.layers\.0\.mlp\.down_proj\.weight: F16, added error/); // 172 columns: F16 (no 32-block tiles them)

    // The GGUF read back (engine row order: q/k rows undone) is the state's VQ weight plus exactly the reported error.
    const state = await decodeTrainedState(readFileSync(join(out, 'sub4-run.json'), 'utf8'), new Uint8Array(readFileSync(join(out, 'trained.safetensors'))));
    const back = await openModelPath(model);
    try {
      for (const [name, q] of state.vqBase) {
        const w = dequantizeVq(q);
        const got = await back.tensors.get(name)!.readF32();
        let sq = 0;
        let n2 = 0;
        for (let i = 0; i < w.length; i++) (sq += (got[i] - w[i]) ** 2), (n2 += w[i] ** 2);
        const reported = Number(new RegExp(`${name.replace(/\./g, '\\.')}: \\w+, added error ([\\d.]+) %`).exec(res.stderr)![1]);
        expect(Math.abs(100 * Math.sqrt(sq / n2) - reported), name).toBeLessThanOrEqual(0.0006);
      }
    } finally {
      await back.close();
    }

    const p = join(dir, 'peft');
    await sub4(['export', out, '--format', 'peft', '--out', p]);
    const statePpl = await evalPpl([out], heldout);
    const sub4Gguf = await evalPpl([model, '--lora', p], heldout);
    const llama = await llamaCppPpl(model, heldout, adapter);
    console.log(
      `held-out perplexity: reallm state ${statePpl.toFixed(4)}; re-encoded GGUF + adapter: sub4 ${sub4Gguf.toFixed(4)} (${(100 * (sub4Gguf / statePpl - 1)).toFixed(3)} % from the state, added weight error ${total![1]} %)` +
        (llama === null ? '; llama.cpp not available' : `, llama.cpp ${llama.toFixed(4)} (${(100 * (llama / sub4Gguf - 1)).toFixed(3)} % from sub4 on the same files)`),
    );
    if (llama !== null) expect(Math.abs(llama / sub4Gguf - 1)).toBeLessThanOrEqual(0.005);
  });
});
