// DoRA on the export side: the merge (src/export/merged.ts mergeFactor) against
// the f64 reference of PEFT's merge_safe (src/ref/dora.ts), and plain LoRA's
// W + s·B·A; a PEFT adapter of DoRA factors carries use_dora and one
// lora_magnitude_vector [out] per module under PEFT's key (no `.weight`); the
// LoRA formats that hold no magnitudes (llama.cpp's, mlx-lm's) refuse the set,
// and a set mixing DoRA and plain modules is refused by PEFT; the PEFT reader
// reads the DoRA adapter back.
import { describe, expect, it } from 'vitest';
import { mergeFactor } from '../../src/export/merged.ts';
import { writePeftAdapter } from '../../src/export/peft.ts';
import { checkLoraSet } from '../../src/export/lora_check.ts';
import { ExportError } from '../../src/export/target.ts';
import { PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, peftMagnitudeKey } from '../../src/io/lora/peft_names.ts';
import { openSafetensors } from '../../src/io/safetensors/reader.ts';
import { readPeftAdapter } from '../../src/io/lora/peft_read.ts';
import { bytesSource } from '../../src/io/source.ts';
import type { LoraFactor, LoraSet } from '../../src/io/lora/set.ts';
import { randomF32 } from '../../src/gpu/random.ts';
import { doraMergedRef } from '../../src/ref/dora.ts';
import { expectClose } from '../helpers/close.ts';
import { memoryTarget } from '../helpers/export_target.ts';

const O = 7, I = 13, R = 3;
const factor = (layer: number, magnitude: boolean): LoraFactor => ({
  layer, role: 'q', a: randomF32(R * I, 1 + layer), b: randomF32(O * R, 2 + layer), inFeatures: I, outFeatures: O,
  ...(magnitude ? { magnitude: randomF32(O, 3 + layer).map((v) => 1 + Math.abs(v)) } : {}),
});

describe('DoRA export', () => {
  it('merges as PEFT merge_safe: (m/n)·(W + s·B·A); plain LoRA as W + s·B·A', () => {
    const w = randomF32(O * I, 9);
    const f = factor(0, true);
    const want = doraMergedRef({ w, a: f.a, b: f.b, m: f.magnitude!, scale: 0.5, O, I, R });
    expectClose('DoRA merge', mergeFactor(Float32Array.from(w), f, 0.5), want, 1e-6);
    const plain = { ...f, magnitude: undefined };
    const lora = mergeFactor(Float32Array.from(w), plain, 0.5);
    const ref = Float64Array.from(w, (v, j) => {
      const o = Math.floor(j / I), i = j % I;
      let d = 0;
      for (let k = 0; k < R; k++) d += f.b[o * R + k] * f.a[k * I + i];
      return v + 0.5 * d;
    });
    expectClose('LoRA merge', lora, ref, 1e-6);
  });

  it('PEFT: use_dora and lora_magnitude_vector per module; mixed sets and magnitude-less formats refused', async () => {
    const set: LoraSet = { rank: R, alpha: 6, factors: [factor(0, true), factor(1, true)] };
    const mem = memoryTarget();
    await writePeftAdapter(mem, set, { baseModel: 'base' });
    expect(JSON.parse(mem.text(PEFT_CONFIG_FILE)).use_dora).toBe(true);
    const st = await openSafetensors(bytesSource(mem.files.get(PEFT_WEIGHTS_FILE)!, PEFT_WEIGHTS_FILE));
    const key = peftMagnitudeKey(1, 'q');
    expect(key).toBe('base_model.model.model.layers.1.self_attn.q_proj.lora_magnitude_vector');
    expect(st.tensors.get(key)?.shape).toEqual([O]);
    expect(await st.readTensorF32(key)).toEqual(set.factors[1].magnitude);
    await st.close();
    // Read back (src/io/lora/peft_read.ts): the same set, magnitudes included; a magnitude without use_dora is refused.
    const back = await readPeftAdapter({ config: mem.text(PEFT_CONFIG_FILE), weights: bytesSource(mem.files.get(PEFT_WEIGHTS_FILE)!, PEFT_WEIGHTS_FILE) }, 'dora');
    expect(back.factors.map((f) => f.magnitude)).toEqual(set.factors.map((f) => f.magnitude));
    const plainCfg = JSON.stringify({ ...JSON.parse(mem.text(PEFT_CONFIG_FILE)), use_dora: false });
    await expect(readPeftAdapter({ config: plainCfg, weights: bytesSource(mem.files.get(PEFT_WEIGHTS_FILE)!, PEFT_WEIGHTS_FILE) }, 'dora')).rejects.toThrow(/is a DoRA magnitude, but use_dora is not true/);
    await expect(writePeftAdapter(memoryTarget(), { ...set, factors: [factor(0, true), factor(1, false)] }, { baseModel: 'b' })).rejects.toThrow(/1 of 2 modules are DoRA/);
    expect(() => checkLoraSet(set, 'GGUF LoRA')).toThrow(ExportError);
    expect(() => checkLoraSet(set, 'mlx')).toThrow(/DoRA .* which a mlx LoRA adapter cannot hold/);
    expect(() => checkLoraSet({ ...set, factors: [{ ...factor(0, true), magnitude: new Float32Array(O - 1) }] }, 'PEFT', true)).toThrow(/magnitude holds 6 values, not 7/);
  });
});
