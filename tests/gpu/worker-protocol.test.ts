// The worker protocol end to end without a browser: the real client and the
// real message loop (serve.ts) talk over a Node MessageChannel, with the real
// handlers on a Dawn device. Checks results, progress, and that errors arrive
// with their class name, message, stack and fields; generate (streaming,
// cancel), perplexity (progress), the weights' upload on first use and their
// release on the next load, and the typed errors of model requests, GPU loss
// included. It backs the browser tests in tests/e2e/app.test.ts and
// tests/e2e/generate.test.ts; load-model is covered by tests/e2e/load-model.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { openAsBlob } from 'node:fs';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { GpuLimitError, GpuUnavailableError } from '../../src/gpu/errors.ts';
import { createNodeGpuContext } from '../../src/gpu/node.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { generateText, evaluatePerplexity, loadModel, stopGeneration } from '../../src/state/actions.ts';
import { createAppStore } from '../../src/state/store.ts';
import { EngineClient, type WorkerLike } from '../../src/worker/client.ts';
import type { HandlerEnv } from '../../src/worker/handler_env.ts';
import { ModelSlot } from '../../src/worker/model_slot.ts';
import { deserializeError, serializeError, type GenerateParams, type GeneratedToken, type ProgressEvent } from '../../src/worker/protocol.ts';
import { serve, type EnginePort } from '../../src/worker/serve.ts';
import { fixture } from '../helpers/fixtures.ts';
import { gpu } from '../helpers/gpu.ts';

const open: MessagePort[] = [];
afterEach(() => {
  for (const p of open.splice(0)) p.close();
});

function connect(env: Pick<HandlerEnv, 'getContext'>): EngineClient {
  const { port1, port2 } = new MessageChannel();
  open.push(port1, port2);
  serve(port2 as unknown as EnginePort, { ...env, models: new ModelSlot() });
  const client = new EngineClient(port1 as unknown as WorkerLike);
  port1.start();
  port2.start();
  return client;
}

describe('error serialization', () => {
  it('keeps class name, message, stack, own fields and cause', () => {
    const cause = new GpuUnavailableError('no adapter');
    const original = new GpuLimitError('binding too large', 'maxStorageBufferBindingSize', 300, 256);
    (original as { cause?: unknown }).cause = cause;
    const wire = structuredClone(serializeError(original));
    const back = deserializeError(wire) as Error & { limit?: string; requested?: number; allowed?: number };
    expect(back).toBeInstanceOf(Error);
    expect(back.name).toBe('GpuLimitError');
    expect(back.message).toBe('binding too large');
    expect(back.stack).toBe(original.stack);
    expect([back.limit, back.requested, back.allowed]).toEqual(['maxStorageBufferBindingSize', 300, 256]);
    expect((back.cause as Error).name).toBe('GpuUnavailableError');
  });

  it('turns thrown non-errors into readable errors', () => {
    expect(deserializeError(serializeError('plain text')).message).toBe('plain text');
    expect(deserializeError(serializeError(42)).message).toBe('42');
  });
});

describe('client ⇄ serve over a MessageChannel', () => {
  it('answers gpu-info and selftest on a real device, with progress', async () => {
    const client = connect({ getContext: async (p) => (p?.('device', 1, 1), gpu()) });
    const info = await client.request({ type: 'gpu-info' });
    expect(info.adapter.vendor + info.adapter.architecture + info.adapter.description).not.toBe('');
    expect(info.limits.maxBufferSize).toBeGreaterThan(0);

    const events: ProgressEvent[] = [];
    const r = await client.request({ type: 'selftest' }, (e) => events.push(e));
    expect(r.passed).toBe(true);
    expect(r.maxRelError).toBeLessThanOrEqual(r.tolerance);
    expect(r.gflops).toBeGreaterThan(0);
    expect(events.map((e) => `${e.phase} ${e.done}/${e.total}`)).toEqual(['device 1/1', 'selftest 0/1', 'selftest 1/1']);
    expect(client.inFlight).toBe(0);
  });

  it('rejects with the engine error rebuilt, worker stack included', async () => {
    const client = connect({
      getContext: async () => {
        throw new GpuUnavailableError('WebGPU found no usable GPU adapter.');
      },
    });
    const err = await client.request({ type: 'selftest' }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.name).toBe('GpuUnavailableError');
    expect(err!.message).toBe('WebGPU found no usable GPU adapter.');
    expect(err!.stack).toContain('worker-protocol.test.ts');
    expect(client.inFlight).toBe(0);
  });

  it('names an unknown request type instead of hanging', async () => {
    const client = connect({ getContext: () => gpu() });
    const bogus = { type: 'no-such-request' } as unknown as { type: 'gpu-info' };
    await expect(client.request(bogus)).rejects.toMatchObject({ name: 'TypeError', message: expect.stringContaining('no-such-request') });
  });

  it('fails every waiting request when the worker dies', async () => {
    const listeners: Record<string, (ev: Event) => void> = {};
    const dead: WorkerLike = {
      postMessage: () => {},
      addEventListener(type: string, fn: (ev: never) => void) {
        listeners[type] = fn as (ev: Event) => void;
      },
    };
    const client = new EngineClient(dead);
    const a = client.request({ type: 'gpu-info' });
    const b = client.request({ type: 'selftest' });
    listeners.error(Object.assign(new Event('error'), { message: 'SyntaxError in engine.worker.js' }));
    await expect(a).rejects.toMatchObject({ name: 'EngineWorkerError', message: expect.stringContaining('SyntaxError in engine.worker.js') });
    await expect(b).rejects.toMatchObject({ name: 'EngineWorkerError' });
    await expect(client.request({ type: 'gpu-info' })).rejects.toMatchObject({ name: 'EngineWorkerError' });
  });
});

// ---- model requests: generate, cancel, perplexity ----

const GGUF = fixture('models/stories260K.gguf');
const TEXT = fixture('data/tinyshakespeare/input.txt');
const GREEDY: GenerateParams = { prompt: 'Once upon a time', maxTokens: 20, temperature: 0, topK: 40, topP: 0.95, seed: 0 };

function connectModel(getContext: HandlerEnv['getContext'] = () => gpu()): { client: EngineClient; slot: ModelSlot } {
  const { port1, port2 } = new MessageChannel();
  open.push(port1, port2);
  const slot = new ModelSlot();
  serve(port2 as unknown as EnginePort, { getContext, models: slot });
  const client = new EngineClient(port1 as unknown as WorkerLike);
  port1.start();
  port2.start();
  return { client, slot };
}

async function pickFile(path: string): Promise<File> {
  return new File([await openAsBlob(path)], path.split('/').pop()!);
}

async function loaded(getContext?: HandlerEnv['getContext']) {
  const c = connectModel(getContext);
  await c.client.request({ type: 'load-model', files: [{ path: 'stories260K.gguf', file: await pickFile(GGUF!) }] });
  return c;
}

const failureOf = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as Error & { field?: string },
  );

describe.skipIf(!GGUF)('generate over the protocol', () => {
  it('streams tokens whose texts add up to the result; weights upload once and go with the next load', async () => {
    const { client, slot } = await loaded();
    const events: ProgressEvent[] = [];
    const streamed: GeneratedToken[] = [];
    const r = await client.request({ type: 'generate', ...GREEDY }, (e) => events.push(e), (t) => streamed.push(t));
    // What stories260K continues greedily (llama.cpp's tokens: tests/cli/generate.test.ts).
    expect(r.text.startsWith(', there was a little girl named Lily')).toBe(true);
    expect([r.stopReason, r.tokens.length, r.promptTokens]).toEqual(['length', 20, 5]);
    expect(streamed.map((t) => t.id)).toEqual(r.tokens);
    expect(streamed.map((t) => t.text).join('')).toBe(r.text);
    expect(r.tokensPerSecond).toBeGreaterThan(0);
    const uploads = events.filter((e) => e.phase === 'uploading weights');
    // Bytes of the file's tensors, every one read once, the last event at the total.
    expect(uploads.at(-1)!.done).toBe(uploads.at(-1)!.total);
    expect(uploads.at(-1)!.total).toBeGreaterThan(1_000_000);
    expect(slot.residentBytes).toBeGreaterThan(1_000_000);
    // This request put the weights on the GPU, so its answer says how long that took, by phase.
    expect(r.weights!.totalMs).toBeGreaterThan(0);
    expect(Object.keys(r.weights!.phases)).toEqual(expect.arrayContaining(['upload']));
    expect(Math.max(...Object.values(r.weights!.phases))).toBeLessThanOrEqual(r.weights!.totalMs);
    console.log(`generate over the protocol: ${r.tokensPerSecond.toFixed(1)} tokens/s, prefill ${r.prefillMs.toFixed(0)} ms; weights ${JSON.stringify(r.weights)}`);

    // Kept for the next request: no upload, and the same greedy text.
    const again: ProgressEvent[] = [];
    const r2 = await client.request({ type: 'generate', ...GREEDY }, (e) => again.push(e));
    expect(again.filter((e) => e.phase === 'uploading weights')).toEqual([]);
    expect(r2.weights).toBeUndefined();
    expect(r2.text).toBe(r.text);

    await client.request({ type: 'load-model', files: [{ path: 'stories260K.gguf', file: await pickFile(GGUF!) }] });
    expect(slot.residentBytes).toBe(0);
  });

  it('a cancel stops it at the next token; it resolves with the text so far', async () => {
    const { client } = await loaded();
    const abort = new AbortController();
    const streamed: GeneratedToken[] = [];
    const r = await client.request({ type: 'generate', ...GREEDY, maxTokens: 1500 }, undefined, (t) => {
      streamed.push(t);
      if (streamed.length === 3) abort.abort();
    }, abort.signal);
    expect(r.stopReason).toBe('cancelled');
    expect(r.tokens.length).toBeGreaterThanOrEqual(3);
    expect(r.tokens.length).toBeLessThan(20);
    expect(r.tokens).toEqual(streamed.map((t) => t.id));
    expect(client.inFlight).toBe(0);
    // A cancel for a request that is over finds nothing.
    expect(await client.request({ type: 'cancel', target: 1 })).toEqual({ cancelled: false });
  });

  it('a new load stops a running generation and frees its weights', async () => {
    const { client, slot } = await loaded();
    let first!: () => void;
    const started = new Promise<void>((r) => (first = r));
    const running = client.request({ type: 'generate', ...GREEDY, maxTokens: 1500 }, undefined, () => first());
    await started;
    await client.request({ type: 'load-model', files: [{ path: 'stories260K.gguf', file: await pickFile(GGUF!) }] });
    const r = await running;
    expect(r.stopReason).toBe('cancelled');
    expect(r.tokens.length).toBeLessThan(1500);
    expect(slot.residentBytes).toBe(0);
  });

  it('names what is wrong: no model, parameters out of range, an empty prompt is fine (BOS)', async () => {
    const bare = connectModel();
    const none = await failureOf(bare.client.request({ type: 'generate', ...GREEDY }));
    expect(none).toMatchObject({ name: 'NoModelError', message: expect.stringMatching(/^No model is loaded/) });

    const { client } = await loaded();
    const bad = await failureOf(client.request({ type: 'generate', ...GREEDY, temperature: -1 }));
    expect(bad).toMatchObject({ name: 'RequestParamError', field: 'temperature', message: 'temperature: must be a number from 0 to 100, got -1' });
    const nan = await failureOf(client.request({ type: 'generate', ...GREEDY, maxTokens: Number.NaN }));
    expect(nan).toMatchObject({ name: 'RequestParamError', field: 'max tokens' });
    const p0 = await failureOf(client.request({ type: 'generate', ...GREEDY, topP: 0 }));
    expect(p0?.message).toMatch(/^top-p: must be above 0/);
    const empty = await client.request({ type: 'generate', ...GREEDY, prompt: '', maxTokens: 3 });
    expect([empty.promptTokens, empty.tokens.length]).toEqual([1, 3]);
  });

  it('a lost GPU fails the request with GpuDeviceLostError; the next one uploads to a new device', async () => {
    let ctx: GpuContext = await createNodeGpuContext();
    const made: GpuContext[] = [ctx];
    const { client } = await loaded(async () => ctx);
    try {
      await client.request({ type: 'generate', ...GREEDY, maxTokens: 2 });
      const doomed = ctx;
      const err = await failureOf(client.request({ type: 'generate', ...GREEDY, maxTokens: 1500 }, undefined, () => doomed.destroy()));
      expect(err).toMatchObject({ name: 'GpuDeviceLostError', reason: 'destroyed', message: expect.stringMatching(/^The GPU was lost \(destroyed\) while the model ran/) });

      ctx = await createNodeGpuContext();
      made.push(ctx);
      const events: ProgressEvent[] = [];
      const r = await client.request({ type: 'generate', ...GREEDY }, (e) => events.push(e));
      expect(r.text.startsWith(', there was a little girl named Lily')).toBe(true);
      expect(events.some((e) => e.phase === 'uploading weights')).toBe(true);
    } finally {
      for (const c of made) c.destroy();
    }
  });
});

describe.skipIf(!GGUF || !TEXT)('perplexity over the protocol', () => {
  it('scores windows of a text file with progress; too short and not UTF-8 are EvalDataErrors naming the file', async () => {
    const { client } = await loaded();
    const events: ProgressEvent[] = [];
    const r = await client.request({ type: 'perplexity', file: await pickFile(TEXT!), name: 'input.txt', ctx: 64, windows: 3 }, (e) => events.push(e));
    expect(r.tokens).toBe(3 * 63);
    expect(r.ppl).toBeCloseTo(Math.exp(r.nll), 10);
    expect(r.file).toBe('input.txt');
    const evals = events.filter((e) => e.phase === 'evaluating').map((e) => `${e.done}/${e.total}`);
    expect(evals).toEqual(['0/3', '3/3']);
    expect(events.map((e) => e.phase)).toEqual(expect.arrayContaining(['uploading weights', 'reading text', 'tokenizing']));
    // The first run after the load uploaded the weights, so its answer says how long that took.
    expect(r.weights?.phases.upload).toBeGreaterThanOrEqual(0);

    const short = await failureOf(client.request({ type: 'perplexity', file: new File(['To be, or not to be.'], 'short.txt'), name: 'short.txt', ctx: 64, windows: 3 }));
    expect(short).toMatchObject({ name: 'EvalDataError', message: expect.stringMatching(/^short\.txt: the text has \d+ tokens, but 3 windows of 64 tokens need 189/) });
    const binary = await failureOf(client.request({ type: 'perplexity', file: new File([new Uint8Array([0x68, 0x69, 0xff, 0xfe, 0x0a])], 'blob.txt'), name: 'blob.txt', ctx: 64, windows: 1 }));
    expect(binary).toMatchObject({ name: 'EvalDataError', message: 'blob.txt: is not UTF-8 text; save it as plain UTF-8 text and drop it again' });
    const wide = await failureOf(client.request({ type: 'perplexity', file: await pickFile(TEXT!), name: 'input.txt', ctx: 4096, windows: 1 }));
    expect(wide).toMatchObject({ name: 'RequestParamError', field: 'ctx', message: expect.stringContaining('at most 2048 positions') });
  });
});

describe.skipIf(!GGUF || !TEXT)('actions → store for generate and perplexity', () => {
  it('streams into the store, stops on Stop, and fills the perplexity result with the bar at 100 %', async () => {
    const { client } = connectModel();
    const store = createAppStore();
    await loadModel(client, store, [{ path: 'stories260K.gguf', file: await pickFile(GGUF!) }]);
    expect(store.getState().model.split?.phases).toMatchObject({ read: expect.any(Number), parse: expect.any(Number), facts: expect.any(Number) });
    expect(store.getState().model.weightsSplit).toBeNull();
    const texts: string[] = [];
    const unsubscribe = store.subscribe((s) => {
      if (texts.at(-1) !== s.generation.text) texts.push(s.generation.text);
    });
    await generateText(client, store, GREEDY);
    unsubscribe();
    const g = store.getState().generation;
    expect([g.status, g.tokens, g.result?.stopReason, g.prompt]).toEqual(['done', 20, 'length', 'Once upon a time']);
    // Generate uploaded the weights: the model card's figure is in the store.
    const placed = store.getState().model.weightsSplit;
    expect(placed?.totalMs).toBeGreaterThan(0);
    expect(texts.length).toBeGreaterThan(10);
    for (const t of texts) expect(g.text.startsWith(t)).toBe(true);

    const long = generateText(client, store, { ...GREEDY, maxTokens: 1500 });
    await new Promise<void>((res) => {
      const un = store.subscribe((s) => s.generation.tokens >= 2 && (un(), res()));
    });
    stopGeneration(store);
    expect(store.getState().generation.stopping).toBe(true);
    await long;
    expect(store.getState().generation).toMatchObject({ status: 'done', stopping: false, result: { stopReason: 'cancelled' } });

    await evaluatePerplexity(client, store, await pickFile(TEXT!), 64, 2);
    const p = store.getState().perplexity;
    expect(p).toMatchObject({ status: 'done', file: 'input.txt', ctx: 64, windows: 2, progress: { phase: 'evaluating', done: 2, total: 2 } });
    expect(p.result?.tokens).toBe(126);
    // The weights were already there: Evaluate leaves the figure Generate brought.
    expect(store.getState().model.weightsSplit).toBe(placed);
    // After a new load, Evaluate is the first run, and its answer brings the upload's figure.
    await loadModel(client, store, [{ path: 'stories260K.gguf', file: await pickFile(GGUF!) }]);
    expect(store.getState().model.weightsSplit).toBeNull();
    await evaluatePerplexity(client, store, await pickFile(TEXT!), 64, 1);
    expect(store.getState().model.weightsSplit?.phases).toHaveProperty('upload');
  });
});
