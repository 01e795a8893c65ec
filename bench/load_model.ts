// A model of TinyLlama-1.1B's shape (hidden 2048, 22 layers, ffn 5632, 32 heads,
// 4 kv heads, vocab 32000) written by sub4's own GGUF writer, for the load
// benchmark: random but valid blocks (any codes and sub-scales, small finite f16
// d / dmin, so a forward stays finite), norms 1. Two type mixes:
//  - 'Q4_K_M': llama-quantize's Q4_K_M rules for a llama (Q6_K head; attn_v and
//    ffn_down Q6_K on the "more bits" layers: the first and last eighth and every
//    third in between; everything else Q4_K), about 668 MB as llama.cpp writes it;
//  - 'Q4_0': every 2-D tensor Q4_0 but the head (Q6_K), as llama-quantize does.
// Tensors are generated and written one at a time, so host memory stays at one
// tensor. The tokenizer is TinyLlama's from the shared fixtures when present
// (then `sub4 eval` can run on the file), else none.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { LlamaConfig } from '../src/arch/config.ts';
import { BLOCK_FORMATS, GgmlType } from '../src/quant/formats.ts';
import { f32ToF16 } from '../src/quant/f16.ts';
import { writeGguf, type GgufTensorSpec } from '../src/io/gguf/writer.ts';
import { fileSink } from '../src/io/sink.node.ts';
import { configKv } from '../src/export/convert/config_kv.ts';
import { tokenizerKv } from '../src/export/convert/tokenizer_kv.ts';
import type { GgufKv } from '../src/io/gguf/types.ts';

export type LoadMix = 'Q4_K_M' | 'Q4_0';

export function tinyLlamaShape(layers = 22): LlamaConfig {
  return {
    architecture: 'llama', vocabSize: 32000, hiddenSize: 2048, intermediateSize: 5632, numLayers: layers, numHeads: 32, numKvHeads: 4, headDim: 64,
    ropeTheta: 10000, ropeScaling: { type: 'none' }, rmsNormEps: 1e-5, tieWordEmbeddings: false, qkvBias: false, oBias: false, mlpBias: false,
    bosTokenId: 1, eosTokenIds: [2], maxPositions: 2048, slidingWindow: null,
  };
}

const moreBits = (i: number, n: number) => i < n / 8 || i >= (7 * n) / 8 || (i - Math.floor(n / 8)) % 3 === 2;

function typeFor(mix: LoadMix, name: string, layer: number, n: number): GgmlType {
  if (name.endsWith('norm.weight')) return GgmlType.F32;
  if (name === 'output.weight') return GgmlType.Q6_K;
  if (mix === 'Q4_0') return GgmlType.Q4_0;
  if ((name.endsWith('attn_v.weight') || name.endsWith('ffn_down.weight')) && moreBits(layer, n)) return GgmlType.Q6_K;
  return GgmlType.Q4_K;
}

/** The tensor list in llama-quantize's order (globals, then each block by name). */
export function loadModelTensors(c: LlamaConfig, mix: LoadMix): GgufTensorSpec[] {
  const C = c.hiddenSize, F = c.intermediateSize, kv = c.numKvHeads * c.headDim;
  const out: GgufTensorSpec[] = [];
  const add = (name: string, ne: number[], layer = -1) => out.push({ name, ne, type: typeFor(mix, name, layer, c.numLayers) });
  add('output.weight', [C, c.vocabSize]);
  add('output_norm.weight', [C]);
  add('token_embd.weight', [C, c.vocabSize]);
  for (let l = 0; l < c.numLayers; l++) {
    const b = `blk.${l}.`;
    const layer: [string, number[]][] = [
      ['attn_k.weight', [C, kv]], ['attn_norm.weight', [C]], ['attn_output.weight', [C, C]], ['attn_q.weight', [C, C]], ['attn_v.weight', [C, kv]],
      ['ffn_down.weight', [F, C]], ['ffn_gate.weight', [C, F]], ['ffn_norm.weight', [C]], ['ffn_up.weight', [C, F]],
    ];
    for (const [n, ne] of layer) add(b + n, ne, l);
  }
  return out;
}

/** xorshift32 words: fast enough that generating 700 MB is a small part of writing it. */
function fillRandom(bytes: Uint8Array, seed: number): void {
  const w = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < w.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    w[i] = s >>> 0;
  }
  for (let i = w.length * 4; i < bytes.length; i++) bytes[i] = (s = (s * 1664525 + 1013904223) >>> 0) >>> 24;
}

function tensorBytes(t: GgufTensorSpec, seed: number): Uint8Array {
  const n = t.ne.reduce((a, b) => a * b, 1);
  if (t.type === GgmlType.F32) return new Uint8Array(new Float32Array(n).fill(1).buffer);
  const f = BLOCK_FORMATS[t.type as keyof typeof BLOCK_FORMATS];
  const nb = n / f.blockSize;
  const out = new Uint8Array(nb * f.bytesPerBlock);
  fillRandom(out, seed);
  // Weights about 0.01 in size: d·(sub-scale ≤ 63)·(code ≤ 15) for K-quants, d·(code ≤ 8) for Q4_0.
  const isK = f.blockSize === 256;
  const d = f32ToF16(isK ? 1.5e-5 : 2e-3);
  const fields = Object.values(f.f16Fields ?? {}) as number[];
  for (let b = 0; b < nb; b++) {
    const o = b * f.bytesPerBlock;
    for (const off of fields) {
      out[o + off] = d & 0xff;
      out[o + off + 1] = d >> 8;
    }
  }
  return out;
}

function tokenizerKvs(): [string, GgufKv][] {
  const dir = resolve(process.env.SUB4_FIXTURES ?? resolve(import.meta.dirname, '../../shared'), 'tokenizers/TinyLlama-1.1B-Chat-v1.0');
  const tj = resolve(dir, 'tokenizer.json');
  if (!existsSync(tj)) return [];
  const tc = resolve(dir, 'tokenizer_config.json');
  return tokenizerKv(JSON.parse(readFileSync(tj, 'utf8')), existsSync(tc) ? JSON.parse(readFileSync(tc, 'utf8')) : undefined, tj);
}

/** Write the model to `path`; returns its size in bytes. */
export async function writeLoadModel(path: string, mix: LoadMix, layers = 22): Promise<number> {
  const c = tinyLlamaShape(layers);
  const tensors = loadModelTensors(c, mix);
  const sink = await fileSink(path);
  try {
    const kv: [string, GgufKv][] = [...configKv(c, `tinyllama-shape-${mix}`, path), ...tokenizerKvs()];
    const n = await writeGguf(sink, kv, tensors, (t, i) => tensorBytes(t, 0x9e3779b9 ^ (i * 7919)), path);
    await sink.commit();
    return n;
  } catch (e) {
    await sink.abort();
    throw e;
  }
}
