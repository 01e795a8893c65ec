// What the worker does with inputs the page got wrong (issue 21, items 2 and 9),
// without a GPU: a drop that names no model is refused before the current model
// is touched (it stays open, and a job running on it goes on); settings errors
// name the field, an empty box says so, and a seq len past the model's context
// is refused by the plan, naming the model and its context; DoRA and codebook
// training on a method that takes neither name their switch; a repair without a
// teacher to use is refused naming the teacher field.
import { describe, expect, it } from 'vitest';
import type { LoadedModel } from '../../src/io/loaded_model.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { handlers } from '../../src/worker/handlers.ts';
import { type HandlerEnv, type HandlerIO } from '../../src/worker/handler_env.ts';
import { loadModel } from '../../src/worker/load_model.ts';
import { ModelSlot } from '../../src/worker/model_slot.ts';
import type { TrainSettings } from '../../src/worker/protocol.ts';

/** Enough of a model for the slot and the plan's checks; close() is recorded. */
function fakeModel(name: string, maxPositions: number): LoadedModel & { closed: boolean } {
  const m = {
    name,
    closed: false,
    config: { maxPositions },
    tokenizer: {},
    tokenizerProblem: null,
    async close() {
      m.closed = true;
    },
  };
  return m as unknown as LoadedModel & { closed: boolean };
}

async function slotWith(model: LoadedModel): Promise<ModelSlot> {
  const slot = new ModelSlot();
  await slot.commit(await slot.begin(), model);
  return slot;
}

const dataFile = { path: 'data.jsonl', file: new File(['{"text": "hello"}\n'], 'data.jsonl') };
const failureOf = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as Error & { field?: string },
  );

/** A GPU context that is never lost (the slot watches ctx.lost); nothing here touches the GPU. */
const noGpu = { lost: new Promise(() => {}) } as unknown as GpuContext;
const io = { progress() {}, stream() {}, signal: new AbortController().signal } as HandlerIO<'train-plan'>;

const SETTINGS: TrainSettings = {
  method: 'peqa', bits: 4, group: 32, rank: 8, alpha: 16, steps: 100, lr: 3e-3, batch: 4, seqLen: 128,
  evalEvery: 0, evalWindows: 16, seed: 0, samplePrompt: '', sampleTokens: 24,
};

describe('a drop that names no model', () => {
  it('is refused before the current model is closed, and a job running on it goes on', async () => {
    const model = fakeModel('stories260K.gguf', 512);
    const slot = await slotWith(model);
    // A job in its turn (as a training run is) until the test lets it go, or until something stops it.
    let finish!: () => void;
    const job = slot.runWithoutWeights(noGpu, { progress() {}, signal: new AbortController().signal }, ({ signal }) =>
      new Promise<string>((resolve) => {
        finish = () => resolve('ran on');
        signal.addEventListener('abort', () => resolve(`stopped: ${String(signal.reason)}`));
      }),
    );
    await new Promise((r) => setTimeout(r, 0));

    const err = await failureOf(loadModel([dataFile], slot, () => {}));
    expect(err?.name).toBe('ModelFilesError');
    expect(err?.message).toContain('none is a .gguf file');
    expect(slot.current).toBe(model);
    expect(model.closed).toBe(false);
    finish();
    expect(await job).toBe('ran on');
  });

  it('check-model-files says which files a load would open, or why none, and opens nothing', async () => {
    const model = fakeModel('stories260K.gguf', 512);
    const env: HandlerEnv = { getContext: () => Promise.reject(new Error('no GPU here')), models: await slotWith(model) };
    const check = (files: { path: string; file: File }[]) => handlers['check-model-files']({ type: 'check-model-files', files }, io as never, env);
    expect((await failureOf(check([dataFile])))?.name).toBe('ModelFilesError');
    const gguf = { path: 'other.gguf', file: new File(['not read'], 'other.gguf') };
    expect(await check([gguf, dataFile])).toEqual({ opened: ['other.gguf'], ignored: ['data.jsonl'] });
    expect(env.models.current).toBe(model);
    expect(model.closed).toBe(false);
  });
});

describe('settings errors name the field', () => {
  const plan = async (patch: Partial<TrainSettings>, maxPositions = 2048) => {
    const env: HandlerEnv = { getContext: () => Promise.reject(new Error('no GPU here')), models: await slotWith(fakeModel('tiny-2k.gguf', maxPositions)) };
    return failureOf(handlers['train-plan']({ type: 'train-plan', ...SETTINGS, ...patch }, io, env));
  };

  it('an empty box is said to be empty, not NaN', async () => {
    const e = await plan({ steps: Number.NaN });
    expect(e).toMatchObject({ name: 'RequestParamError', field: 'steps' });
    expect(e!.message).toMatch(/^steps: must be a whole number from 1 to 1000000, but the box is empty/);
    expect(e!.message).not.toContain('NaN');
  });

  it('out-of-range seq len and seed name their field', async () => {
    expect(await plan({ seqLen: 99999999 })).toMatchObject({ name: 'RequestParamError', field: 'seq len', message: 'seq len: must be a whole number from 2 to 65536, got 99999999' });
    expect(await plan({ seed: 1e30 })).toMatchObject({ name: 'RequestParamError', field: 'seed' });
  });

  it('DoRA and codebook training are refused, naming the switch, on methods that take none', async () => {
    const dora = await plan({ method: 'peqa', dora: true });
    expect(dora).toMatchObject({ name: 'RequestParamError', field: 'DoRA' });
    expect(dora!.message).toBe('DoRA: adds a magnitude to LoRA on a frozen base: it needs LoRA, LQ-LoRA or ReALLM, not peqa');
    expect(await plan({ method: 'lora', trainCodebooks: true })).toMatchObject({ name: 'RequestParamError', field: 'train codebooks' });
    expect(await plan({ dora: 'yes' as unknown as boolean })).toMatchObject({ name: 'RequestParamError', field: 'DoRA', message: 'DoRA: must be on or off (true or false), got yes' });
  });

  it("a seq len past the model's context is refused by the plan, naming the model and its context", async () => {
    const e = await plan({ seqLen: 4096 }, 2048);
    expect(e).toMatchObject({ name: 'RequestParamError', field: 'seq len' });
    expect(e!.message).toBe('seq len: tiny-2k.gguf has a context of 2048 tokens, so seq len must be at most 2048, got 4096');
    // At the context itself the check passes (the plan then goes on into parts of the model this fake lacks).
    expect(await plan({ seqLen: 2048 }, 2048)).not.toMatchObject({ field: 'seq len' });
  });

  it('a repair needs a teacher: the tab\'s model only when it is quantized here, else a loaded teacher file', async () => {
    expect(await plan({ repair: { teacher: 'other' as 'self' } })).toMatchObject({ name: 'RequestParamError', field: 'teacher' });
    const self = await plan({ repair: { teacher: 'self' }, bits: null });
    expect(self).toMatchObject({ name: 'RequestParamError', field: 'teacher' });
    expect(self!.message).toMatch(/this tab's model teaches only a student quantized here from it: choose 2, 3 or 4 bits, or load a teacher file/);
    const file = await plan({ repair: { teacher: 'file' } });
    expect(file).toMatchObject({ name: 'RequestParamError', field: 'teacher' });
    expect(file!.message).toBe('teacher: no teacher file is loaded for tiny-2k.gguf: drop or pick its unquantized model (.gguf or Hugging Face folder) under Repair quantization');
  });
});
