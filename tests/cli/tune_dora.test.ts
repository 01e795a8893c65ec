// `sub4 tune --dora` end to end through the bin entry on stories260K (f32 HF
// folder): ReALLM at 2 bits with DoRA trains (finite losses, 35 magnitude
// vectors saved, m moved off its start), `sub4 export --list` refuses the
// adapter formats DoRA cannot be written to (PEFT on AQLM, llama.cpp, mlx) and
// offers merged; `sub4 eval` of the merged F16 folder equals `sub4 eval` of
// the trained state within 0.1 % (F16 rounding is the only change). Then plain
// LoRA + DoRA on the float base exports a PEFT adapter with use_dora and a
// lora_magnitude_vector per module (PEFT's key names, formats-2.md §5.1),
// which `sub4 eval <base> --lora <adapter>` reads back to the state's perplexity.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { gpuReady } from '../helpers/gpu_available.ts';
import { decodeTrainedState } from '../../src/train/state.ts';
import { readSafetensorsFile } from '../helpers/mlx_reader.ts';
import { doraNormRef } from '../../src/ref/dora.ts';
import { dequantizeVq } from '../../src/quant/vq/vqtensor.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
// ReALLM's k-means split runs on the CPU: minutes on a shared 2-core machine.
const sub4 = (args: string[]) => run('node', [BIN, ...args], { timeout: 900_000 });
const shakespeare = fixture('data/tinyshakespeare/input.txt');
const hf = fixture('models/stories260K');
const evalPpl = async (args: string[], heldout: string) =>
  JSON.parse((await sub4(['eval', ...args, '--data', heldout, '--ctx', '64', '--windows', '4', '--json'])).stdout.trim().split('\n').at(-1)!).ppl as number;

function texts(prefix: string): { dir: string; train: string; heldout: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const text = readFileSync(shakespeare!, 'utf8');
  const cut = Math.floor(text.length * 0.9);
  writeFileSync(join(dir, 'train.txt'), text.slice(0, 12000));
  writeFileSync(join(dir, 'heldout.txt'), text.slice(cut, cut + 8000));
  return { dir, train: join(dir, 'train.txt'), heldout: join(dir, 'heldout.txt') };
}

async function magnitudes(out: string) {
  const state = await decodeTrainedState(readFileSync(join(out, 'sub4-run.json'), 'utf8'), new Uint8Array(readFileSync(join(out, 'trained.safetensors'))));
  return { state, m: state.manifest.tensors.filter((t) => t.kind === 'dora-magnitude') };
}

describe('sub4 tune --dora', () => {
  it('ReALLM 2-bit + DoRA trains; merged F16 export evals as the state within 0.1 %', { timeout: 1_500_000 }, async () => {
    if (!(shakespeare && hf && gpuReady())) return;
    const { dir, train, heldout } = texts('sub4-dora-');
    const out = join(dir, 'run');
    const tune = await sub4(['tune', hf!, '--method', 'reallm', '--bits', '2', '--dora', '--rank', '4', '--steps', '4', '--batch', '2', '--seq', '64', '--lr', '3e-3', '--data', train, '--out', out]);
    console.log(tune.stdout.trim().split('\n').at(-1));
    const { state, m } = await magnitudes(out);
    const man = state.manifest;
    expect(man.trainConfig.lora?.dora).toBe(true);
    expect(m).toHaveLength(5 * 7);
    expect(Number.isFinite(man.losses.first) && Number.isFinite(man.losses.last)).toBe(true);
    console.log(`DoRA ReALLM 2-bit: loss ${man.losses.first} → ${man.losses.last}; held-out perplexity ${man.perplexity.before} → ${man.perplexity.after}`);
    // m starts as the row norms n of W + s·B·A (m/n = 1); after training m/n ≠ 1: the magnitudes moved apart from the norms.
    let off = 0;
    for (const t of m) {
      const name = state.manifest.vqBase!.find((v) => v.name.startsWith(`model.layers.${t.layer}.`) && v.name.includes(`.${t.role}_proj.`))!.name;
      const q = state.vqBase.get(name)!;
      const R = man.lora!.rank;
      const n = doraNormRef({ w: dequantizeVq(q), a: state.tensors.get(t.name.replace('lora_magnitude', 'lora_a'))!, b: state.tensors.get(t.name.replace('lora_magnitude', 'lora_b'))!, scale: man.lora!.scale, m: [], O: q.rows, I: q.cols, R });
      state.tensors.get(t.name)!.forEach((v, o) => (off = Math.max(off, Math.abs(v / n[o] - 1))));
    }
    console.log(`largest |m/n − 1| after training: ${off.toExponential(3)}`);
    expect(off).toBeGreaterThan(1e-5);

    const list = (await sub4(['export', out, '--list'])).stdout;
    console.log(list.trim());
    expect(list).toMatch(/^merged\s+yes/m);
    expect(list).toMatch(/^peft\s+no\s+PEFT refuses DoRA on AQLM/m);
    expect(list).toMatch(/^aqlm\s+no\s+PEFT refuses DoRA on AQLM/m);
    expect(list).toMatch(/^gguf-lora\s+no/m);

    const merged = join(dir, 'merged');
    await sub4(['export', out, '--format', 'merged', '--out', merged]);
    for (const f of ['model.safetensors', 'config.json', 'README.md', 'tokenizer.json']) expect(existsSync(join(merged, f)), f).toBe(true);
    const cfg = JSON.parse(readFileSync(join(merged, 'config.json'), 'utf8'));
    expect(cfg.quantization_config).toBeUndefined();
    const st = readSafetensorsFile(new Uint8Array(readFileSync(join(merged, 'model.safetensors'))));
    expect(st.tensors.get('model.layers.0.mlp.down_proj.weight')?.dtype).toBe('F16');

    const statePpl = await evalPpl([out], heldout);
    const mergedPpl = await evalPpl([merged], heldout);
    console.log(`held-out perplexity: state ${statePpl.toFixed(4)}, merged F16 ${mergedPpl.toFixed(4)} (${(100 * (mergedPpl / statePpl - 1)).toFixed(4)} %)`);
    expect(Math.abs(mergedPpl / statePpl - 1)).toBeLessThanOrEqual(0.001);
  });

  it('LoRA + DoRA on the float base: PEFT adapter with use_dora and lora_magnitude_vector; --dora refused with PEQA', { timeout: 600_000 }, async () => {
    if (!(shakespeare && hf && gpuReady())) return;
    const { dir, train, heldout } = texts('sub4-dora-peft-');
    await expect(sub4(['tune', hf!, '--method', 'peqa', '--bits', '4', '--dora', '--data', train, '--out', join(dir, 'x')])).rejects.toThrow(/--dora .* needs --method lora, lqlora or reallm/);
    const out = join(dir, 'run');
    await sub4(['tune', hf!, '--method', 'lora', '--dora', '--rank', '2', '--steps', '2', '--batch', '2', '--seq', '64', '--data', train, '--out', out, '--format', 'peft']);
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(cfg.use_dora).toBe(true);
    const st = readSafetensorsFile(new Uint8Array(readFileSync(join(out, 'adapter_model.safetensors'))));
    const key = 'base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector';
    expect(st.tensors.get(key)?.shape).toEqual([64]);
    expect([...st.tensors.keys()].filter((k) => k.endsWith('.lora_magnitude_vector'))).toHaveLength(5 * 7);
    // The merged float checkpoint of the same run is the same model.
    const merged = join(dir, 'merged');
    await sub4(['export', out, '--format', 'merged', '--out', merged]);
    const [a, b, c] = [await evalPpl([out], heldout), await evalPpl([merged], heldout), await evalPpl([hf!, '--lora', out], heldout)];
    console.log(`LoRA + DoRA (float base): state ${a.toFixed(4)}, merged F16 ${b.toFixed(4)} (${(100 * (b / a - 1)).toFixed(4)} %), base + PEFT DoRA adapter read back ${c.toFixed(4)} (${(100 * (c / a - 1)).toFixed(6)} %)`);
    expect(Math.abs(b / a - 1)).toBeLessThanOrEqual(0.001);
    expect(Math.abs(c / a - 1)).toBeLessThanOrEqual(1e-5); // the same f32 tensors, read through the PEFT reader
  });
});
