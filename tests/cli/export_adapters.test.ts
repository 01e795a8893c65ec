// Adapter and GPTQ exports end to end through the bin entry (`sub4 tune` →
// `sub4 export` → another loader), each compared with `sub4 eval` of the tuned
// state on the same held-out windows of tinyshakespeare:
//  - LoRA on stories260K Q4_0: llama.cpp loads the base GGUF with the exported
//    adapter.gguf (node-llama-cpp's lora option) within 0.5 %; the PEFT export
//    re-imported into sub4 (`sub4 eval <base> --lora`) within 0.1 %.
//  - LQ-LoRA on the f32 HF folder quantized to 4-bit groups of 32: the base
//    GGUF is sub4's own quantized base (Q4_1), the adapter goes on top, llama.cpp
//    within 0.5 %.
//  - PEQA on the HF folder at 4 and 2 bits: the GPTQ folder re-imports into sub4
//    (`sub4 eval <gptq folder>`) within 0.1 %, and `sub4 tune` accepts it as a base.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { gpuReady } from '../helpers/gpu_available.ts';
import { refLogits, refModel, refTokenize } from '../helpers/llamacpp.ts';
import { perplexity, pplWindows } from '../helpers/perplexity.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
const sub4 = (args: string[]) => run('node', [BIN, ...args], { timeout: 240_000 });
const shakespeare = fixture('data/tinyshakespeare/input.txt');
const q4 = fixture('models/stories260K-quantized/stories260K-q4_0.gguf');
const hf = fixture('models/stories260K');
const CTX = 128;
const WINDOWS = 4;

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'sub4-adapters-'));
  const text = readFileSync(shakespeare!, 'utf8');
  const cut = Math.floor(text.length * 0.9);
  writeFileSync(join(dir, 'train.txt'), text.slice(0, 16000));
  writeFileSync(join(dir, 'heldout.txt'), text.slice(cut, cut + 20000));
  return { dir, train: join(dir, 'train.txt'), heldout: join(dir, 'heldout.txt') };
}

const evalPpl = async (args: string[], heldout: string) => JSON.parse((await sub4(['eval', ...args, '--data', heldout, '--ctx', `${CTX}`, '--windows', `${WINDOWS}`, '--json'])).stdout.trim().split('\n').at(-1)!).ppl as number; // progress lines come first

async function llamaCppPpl(model: string, heldout: string, lora?: string): Promise<number> {
  const ref = await refModel(model);
  if (!ref) throw new Error('node-llama-cpp is not available');
  const wins = pplWindows(refTokenize(ref, readFileSync(heldout, 'utf8')), ref.tokens.bos as number, CTX, WINDOWS);
  return (await perplexity(wins, (t) => refLogits(ref, t, { lora }))).ppl;
}

const close = (name: string, got: number, want: number, tol: number) => {
  console.log(`${name}: ${got.toFixed(4)} vs sub4 eval of the state ${want.toFixed(4)} (${(100 * (got / want - 1)).toFixed(3)} %)`);
  expect(Math.abs(got / want - 1)).toBeLessThanOrEqual(tol);
};

const ready = () => !!(shakespeare && q4 && hf && gpuReady());

describe('adapter and GPTQ exports', () => {
  it('LoRA on stories260K Q4_0: llama.cpp with adapter.gguf, and PEFT re-imported into sub4', { timeout: 600_000 }, async () => {
    if (!ready()) return;
    const { dir, train, heldout } = setup();
    const state = join(dir, 'state');
    await sub4(['tune', q4!, '--data', train, '--method', 'lora', '--rank', '4', '--steps', '8', '--batch', '2', '--seq', '64', '--lr', '3e-3', '--eval-windows', '2', '--out', state]);
    const tuned = await evalPpl([state], heldout);
    const ggufDir = join(dir, 'gguf-lora');
    await sub4(['export', state, '--format', 'gguf-lora', '--out', ggufDir]);
    const model = 'stories260K-q4_0-lora-Q4_0.gguf';
    expect(readdirSync(ggufDir).sort()).toEqual(['README.md', 'adapter.gguf', model]);
    const base = await llamaCppPpl(join(ggufDir, model), heldout);
    close('llama.cpp, base + adapter.gguf', await llamaCppPpl(join(ggufDir, model), heldout, join(ggufDir, 'adapter.gguf')), tuned, 0.005);
    console.log(`llama.cpp without the adapter: ${base.toFixed(4)}`);
    expect(Math.abs(base / tuned - 1)).toBeGreaterThan(0.02);

    const peftDir = join(dir, 'peft');
    await sub4(['export', state, '--format', 'peft', '--out', peftDir]);
    expect(readdirSync(peftDir).sort()).toEqual(['README.md', 'adapter_config.json', 'adapter_model.safetensors']);
    close('sub4 eval <base> --lora <peft>', await evalPpl([q4!, '--lora', peftDir], heldout), tuned, 0.001);
  });

  it("LQ-LoRA 4-bit g32 on the f32 folder: sub4's quantized base GGUF + adapter in llama.cpp", { timeout: 600_000 }, async () => {
    if (!ready()) return;
    const { dir, train, heldout } = setup();
    const state = join(dir, 'state');
    await sub4(['tune', hf!, '--data', train, '--method', 'lqlora', '--bits', '4', '--group', '32', '--rank', '4', '--steps', '6', '--batch', '2', '--seq', '64', '--lr', '3e-3', '--eval-windows', '2', '--out', state]);
    const tuned = await evalPpl([state], heldout);
    const out = join(dir, 'gguf-lora');
    await sub4(['export', state, '--format', 'gguf-lora', '--out', out]);
    close('llama.cpp, sub4 Q4_1 base + LQ-LoRA adapter', await llamaCppPpl(join(out, 'stories260K-lqlora-4bit.gguf'), heldout, join(out, 'adapter.gguf')), tuned, 0.005);
  });

  for (const bits of [4, 2]) {
    it(`PEQA ${bits}-bit g32 on the f32 folder: the GPTQ export re-imports and scores the same; tune accepts it`, { timeout: 600_000 }, async () => {
      if (!ready()) return;
      const { dir, train, heldout } = setup();
      const state = join(dir, 'state');
      await sub4(['tune', hf!, '--data', train, '--method', 'peqa', '--bits', `${bits}`, '--group', '32', '--steps', '6', '--batch', '2', '--seq', '64', '--lr', '3e-3', '--eval-windows', '2', '--out', state]);
      const tuned = await evalPpl([state], heldout);
      const out = join(dir, 'gptq');
      await sub4(['export', state, '--format', 'gptq', '--out', out]);
      const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
      expect(config.quantization_config).toMatchObject({ quant_method: 'gptq', bits, group_size: 32, desc_act: false });
      close(`sub4 eval <gptq ${bits}-bit folder>`, await evalPpl([out], heldout), tuned, 0.001);
      const again = await sub4(['tune', out, '--data', train, '--method', 'peqa', '--steps', '1', '--batch', '1', '--seq', '32', '--eval-windows', '1', '--out', join(dir, 'again'), '--json']);
      expect(again.stdout).toContain('"type":"summary"');
    });
  }
});
