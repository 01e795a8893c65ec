// Node: a saved trained state (sub4 tune --out) back on the GPU, for
// `sub4 eval <state folder>`: the base model it names (or
// another path), the quantized base sub4 made (if any), and the trainable of
// the same configuration with the saved θ / LoRA / norms written in; and a
// PEFT adapter folder put on a model (`sub4 eval --lora`).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LayerLora } from '../model/llama.ts';
import { LlamaModel } from '../model/llama.ts';
import { createTrainable, type Trainable } from '../model/trainable.ts';
import { loadWeights } from '../model/weights.ts';
import { createNodeGpuContext } from '../gpu/node.ts';
import { FormatError } from '../base/errors.ts';
import { decodeTrainedState, loadTrainedState, STATE_MANIFEST_FILE, type StateManifest } from '../train/state.ts';
import { openWithTokenizer, type GpuModelSession } from './model_gpu.ts';
import { readPeftFolder } from '../io/lora/peft_read.node.ts';
import { loadLoraSet } from '../train/lora_load.ts';
import { withGgufLayers } from '../train/budget/overlay.ts';
import { factorRank, mixedRanks } from '../io/lora/set.ts';

export interface TunedSession extends GpuModelSession {
  manifest: StateManifest;
  trainable: Trainable;
  lora: LayerLora[];
}

async function readState(dir: string) {
  const path = join(dir, STATE_MANIFEST_FILE);
  let json: string;
  let bytes: Buffer;
  try {
    json = await readFile(path, 'utf8');
    const m = JSON.parse(json) as { tensorsFile?: string };
    bytes = await readFile(join(dir, m.tensorsFile ?? 'trained.safetensors'));
  } catch (e) {
    throw new FormatError(path, `cannot be read as a sub4 trained state (${(e as Error).message})`);
  }
  return decodeTrainedState(json, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}

/** Open the state's base (or `basePath`) on the GPU with the trained parameters applied. */
export async function tunedToGpu(stateDir: string, basePath?: string): Promise<TunedSession> {
  const t0 = performance.now();
  const state = await readState(stateDir);
  const m = await openWithTokenizer(basePath ?? state.manifest.base.path);
  const ctx = await createNodeGpuContext().catch(async (e) => {
    await m.file.close();
    throw e;
  });
  let weights;
  let tr: Trainable | undefined;
  try {
    // A --budget run's layers in the GGUF types its plan chose (blocks saved in the state), a ReALLM run's learned codebooks.
    const base = withGgufLayers(m.file, state.ggufBase, state.vqBase);
    weights = await loadWeights(ctx, base, { quantized: state.quantizedBase });
    const model = new LlamaModel(ctx, weights);
    tr = await createTrainable(model, base, state.manifest.trainConfig);
    loadTrainedState(tr, state.tensors, join(stateDir, STATE_MANIFEST_FILE));
    const w = weights;
    const t = tr;
    return {
      ...m, ctx, model, manifest: state.manifest, trainable: t, lora: t.lora,
      loadSeconds: (performance.now() - t0) / 1000,
      async close() {
        t.destroy();
        w.destroy();
        ctx.destroy();
        await m.file.close();
      },
    };
  } catch (e) {
    tr?.destroy();
    weights?.destroy();
    ctx.destroy();
    await m.file.close();
    throw e;
  }
}

/** A PEFT LoRA adapter folder applied to a model already on the GPU (`sub4 eval --lora`): returns its layers' adapters. */
export async function attachPeftAdapter(s: GpuModelSession, dir: string): Promise<{ lora: LayerLora[]; destroy(): void }> {
  const set = await readPeftFolder(dir);
  const targets = [...new Set(set.factors.map((f) => f.role))];
  const dora = set.factors.some((f) => f.magnitude);
  // Per-module ranks (rank_pattern): each matrix's own; modules without factors get B = 0 (loadLoraSet).
  const ranks = Object.fromEntries(set.factors.map((f) => [`${f.layer}.${f.role}`, factorRank(set, f)]));
  const tr = await createTrainable(s.model, s.file, { method: 'lora', lora: { rank: set.rank, alpha: set.alpha, targets, dora, ...(mixedRanks(set) ? { ranks } : {}) } });
  try {
    loadLoraSet(tr, set, dir);
  } catch (e) {
    tr.destroy();
    throw e;
  }
  return { lora: tr.lora, destroy: () => tr.destroy() };
}
