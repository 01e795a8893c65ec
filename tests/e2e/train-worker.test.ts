// The training requests through the real client, message loop and handlers
// over a Node MessageChannel, on a Dawn device (no browser): a run equals
// `sub4 tune --json` with the same settings (step losses, held-out losses,
// samples), Pause holds the steps and Resume goes on, Stop resolves with what
// was trained and keeps it in the model slot, PEQA on the resident weights of a
// quantized file leaves generate on the base unless the tuned model is asked
// for (then it continues as the run's own sample, PEQA and LoRA), and bad input fails with typed
// errors naming the field or the file. The browser test (train.test.ts) runs the
// same requests from the panel in Chromium.
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, openAsBlob, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { EngineClient, type WorkerLike } from '../../src/worker/client.ts';
import { ModelSlot } from '../../src/worker/model_slot.ts';
import type { TrainSettings, TrainStepPoint, TrainStream } from '../../src/worker/protocol.ts';
import { serve, type EnginePort } from '../../src/worker/serve.ts';
import { fixture } from '../helpers/fixtures.ts';
import { gpu } from '../helpers/gpu.ts';
import { gpuReady } from '../helpers/gpu_available.ts';

const F32 = fixture('models/stories260K.gguf');
const Q4 = fixture('models/stories260K-quantized/stories260K-q4_0.gguf');
const TEXT = fixture('data/tinyshakespeare/input.txt');
const BIN = new URL('../../bin/sub4.js', import.meta.url).pathname;
const PROMPT = 'Once upon a time';
const run = promisify(execFile);
const haveAll = !!F32 && !!Q4 && !!TEXT && gpuReady();

const open: MessagePort[] = [];
afterEach(() => {
  for (const p of open.splice(0)) p.close();
});

async function connect(model: string): Promise<{ client: EngineClient; slot: ModelSlot }> {
  const { port1, port2 } = new MessageChannel();
  open.push(port1, port2);
  const slot = new ModelSlot();
  serve(port2 as unknown as EnginePort, { getContext: () => gpu(), models: slot });
  const client = new EngineClient(port1 as unknown as WorkerLike);
  port1.start();
  port2.start();
  const name = model.split('/').pop()!;
  await client.request({ type: 'load-model', files: [{ path: name, file: new File([await openAsBlob(model)], name) }] });
  return { client, slot };
}

const slice = () => readFileSync(TEXT!, 'utf8').slice(0, 12_000);
const dataFile = () => new File([slice()], 'shakespeare.txt');
const SETTINGS: TrainSettings = {
  method: 'peqa', bits: 4, group: 32, rank: 4, alpha: 4, steps: 6, lr: 3e-3, batch: 2, seqLen: 32,
  evalEvery: 0, evalWindows: 4, seed: 0, samplePrompt: PROMPT, sampleTokens: 16,
};
const greedy = { type: 'generate', prompt: PROMPT, maxTokens: 16, temperature: 0, topK: 0, topP: 1, seed: 0 } as const;

const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the request to fail');
    },
    (e: unknown) => e as Error & { field?: string },
  );

describe.skipIf(!haveAll)('train over the protocol', () => {
  it('equals `sub4 tune --json` with the same settings: step losses, held-out losses, samples', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sub4-train-worker-'));
    const data = join(dir, 'shakespeare.txt');
    writeFileSync(data, slice());
    const s = SETTINGS;
    const args = ['tune', F32!, '--data', data, '--method', s.method, '--bits', String(s.bits), '--group', String(s.group), '--steps', String(s.steps), '--batch', String(s.batch),
      '--seq', String(s.seqLen), '--eval-windows', String(s.evalWindows), '--lr', String(s.lr), '--seed', String(s.seed), '--sample', PROMPT, '--json', '--out', join(dir, 'out')];
    const cli = (await run('node', [BIN, ...args], { timeout: 120_000 })).stdout.trim().split('\n').map((l) => JSON.parse(l));

    const { client, slot } = await connect(F32!);
    const d = await client.request({ type: 'train-data', file: dataFile(), name: 'shakespeare.txt', seqLen: s.seqLen, seed: s.seed });
    const phases = new Set<string>();
    const stream: TrainStream[] = [];
    const r = await client.request({ type: 'train', ...s, file: dataFile(), name: 'shakespeare.txt' }, (p) => phases.add(p.phase), (e) => stream.push(e));
    const points = stream.flatMap((e) => (e.type === 'steps' ? e.points : []));
    const cliSteps = cli.filter((l) => l.type === 'step');
    const cliEvals = cli.filter((l) => l.type === 'eval');
    const cliSamples = cli.filter((l) => l.type === 'sample');
    console.log(`worker: ${points.map((p) => p.loss.toFixed(4)).join(' ')}; CLI: ${cliSteps.map((p) => p.loss.toFixed(4)).join(' ')}; phases ${[...phases].join(', ')}`);

    expect(d.counts.trainWindows).toBeGreaterThan(100);
    expect(d.preview[0].segments.map((g) => g.text).join('')).toContain('First Citizen');
    expect(r).toMatchObject({ stop: 'done', steps: s.steps, totalSteps: s.steps });
    expect(points.map((p) => p.step)).toEqual(cliSteps.map((l) => l.step));
    points.forEach((p, i) => {
      expect(Math.abs(p.loss - cliSteps[i].loss)).toBeLessThan(1e-5 * cliSteps[i].loss);
      expect(p.lr).toBeCloseTo(cliSteps[i].lr, 12);
      expect(p.gpuBytes).toBeGreaterThan(0);
      expect(p.tokensPerSecond).toBeGreaterThan(0);
    });
    expect(r.evalBefore!.loss).toBeCloseTo(cliEvals[0].evalLoss, 5);
    expect(r.evalAfter!.loss).toBeCloseTo(cliEvals.at(-1).evalLoss, 5);
    expect(r.evalAfter!.loss).toBeLessThan(r.evalBefore!.loss);
    // The CLI prints prompt + continuation; the worker sends the continuation.
    expect(PROMPT + r.samples.before).toBe(cliSamples[0].text);
    expect(PROMPT + r.samples.after).toBe(cliSamples[1].text);
    expect(stream.filter((e) => e.type === 'sample').map((e) => (e as { when: string }).when)).toEqual(['before', 'after']);
    for (const p of ['reading data', 'quantizing', 'uploading weights', 'preparing', 'sampling', 'training', 'finishing']) expect(phases.has(p), p).toBe(true);
    // The trained state stays in the worker, on its own quantized weights, for export.
    const kept = slot.training.trained!;
    expect(kept.info).toMatchObject({ method: 'peqa', quant: { bits: 4, groupSize: 32 }, steps: s.steps, seqLen: s.seqLen });
    expect(kept.borrowsWeights).toBe(false);
    expect(kept.quantized!.size).toBe(35);
    // The tuned model is that run's own quantized weights: it continues as the after sample.
    expect((await client.request({ ...greedy, model: 'tuned' })).text).toBe(r.samples.after);
  });

  it('Pause holds the steps, Resume goes on, Stop resolves with what was trained and keeps it', async () => {
    const { client, slot } = await connect(F32!);
    const abort = new AbortController();
    const points: { p: TrainStepPoint; at: number }[] = [];
    const states: { state: string; at: number }[] = [];
    let paused = false;
    const done = client.request(
      { type: 'train', ...SETTINGS, method: 'lora', steps: 400, file: dataFile(), name: 'shakespeare.txt' },
      undefined,
      (e) => {
        if (e.type === 'state') states.push({ state: e.state, at: performance.now() });
        // Resumed 1.2 s after the worker says it has paused (it pauses once the step under way ends).
        if (e.type === 'state' && e.state === 'paused') setTimeout(() => void client.request({ type: 'train-control', action: 'resume' }), 1200);
        if (e.type !== 'steps') return;
        for (const p of e.points) points.push({ p, at: performance.now() });
        if (!paused && points.length >= 2) {
          paused = true;
          void client.request({ type: 'train-control', action: 'pause' });
        }
        if (points.at(-1)!.p.step >= 6) abort.abort();
      },
      abort.signal,
    );
    const r = await done;
    expect(states.map((s) => s.state)).toEqual(['paused', 'running']);
    const [p0, p1] = states.map((s) => s.at);
    expect(p1 - p0).toBeGreaterThan(1000);
    expect(points.filter((x) => x.at > p0 && x.at < p1)).toEqual([]);
    // Time paused is not training time: across the pause, wall time grew by the pause more than elapsedMs did.
    const i = points.findIndex((x) => x.at > p1);
    const wall = points[i].at - points[i - 1].at;
    const trained = points[i].p.elapsedMs - points[i - 1].p.elapsedMs;
    expect(wall - trained).toBeGreaterThan(0.8 * (p1 - p0));
    expect(r.stop).toBe('stopped');
    expect(r.steps).toBeGreaterThanOrEqual(6);
    expect(r.steps).toBeLessThan(10);
    expect(r.evalAfter).not.toBeNull();
    expect(slot.training.trained!.info.steps).toBe(r.steps);
    expect(slot.training.gate).toBeNull();
    expect(await client.request({ type: 'train-control', action: 'pause' })).toEqual({ running: false });
  });

  it('PEQA on the resident weights of a quantized file: generate stays on the base; a new load frees the run', async () => {
    const { client, slot } = await connect(Q4!);
    const before = await client.request(greedy);
    const plan = await client.request({ type: 'train-plan', ...SETTINGS, bits: null });
    const r = await client.request({ type: 'train', ...SETTINGS, bits: null, file: dataFile(), name: 'shakespeare.txt' });
    const after = await client.request(greedy);
    expect(plan.total).toBeGreaterThan(0);
    expect(plan.refused).toBeNull();
    expect(plan.notes.join(' ')).toMatch(/PEQA trains q, k, v, o, gate, up; not quantized, left frozen: .*down_proj/);
    expect(r.samples.after).not.toBe(r.samples.before); // the trained scales change the sample ...
    expect(after.text).toBe(before.text); // ... but generate runs on the base scales again
    expect(slot.training.trained!.borrowsWeights).toBe(true);
    // Generate put the weights up first; the run trained on them, so its answer has no upload to report.
    expect(before.weights?.totalMs).toBeGreaterThan(0);
    expect(r.weights).toBeUndefined();
    // Asked for, the tuned model (KV-cache generation) continues as the run's own greedy sample did (full re-forwards) ...
    const tuned = await client.request({ ...greedy, model: 'tuned' });
    expect([tuned.model, tuned.text]).toEqual(['tuned', r.samples.after]);
    // ... and the resident weights are back on the base scales afterwards.
    expect((await client.request(greedy)).text).toBe(before.text);
    await client.request({ type: 'load-model', files: [{ path: 'stories260K.gguf', file: new File([await openAsBlob(F32!)], 'stories260K.gguf') }] });
    expect(slot.training.trained).toBeNull();
  });

  it('LoRA on a quantized file: the tuned model generates with the run\'s factors', async () => {
    const { client } = await connect(Q4!);
    const before = await client.request(greedy);
    // Opened again, so the run is the first request on the weights: its answer reports their upload.
    await client.request({ type: 'load-model', files: [{ path: 'stories260K-q4.gguf', file: new File([await openAsBlob(Q4!)], 'stories260K-q4.gguf') }] });
    const r = await client.request({ type: 'train', ...SETTINGS, method: 'lora', bits: null, lr: 3e-2, file: dataFile(), name: 'shakespeare.txt' });
    expect(r.samples.after).not.toBe(r.samples.before);
    expect(r.weights?.phases).toHaveProperty('upload');
    const tuned = await client.request({ ...greedy, model: 'tuned' });
    expect([tuned.model, tuned.text]).toEqual(['tuned', r.samples.after]);
    expect((await client.request(greedy)).text).toBe(before.text);
  });

  it('bad input fails with typed errors naming the field or the file', async () => {
    const { client } = await connect(F32!);
    const noRun = await failure(client.request({ ...greedy, model: 'tuned' }));
    expect([noRun.name, noRun.field]).toEqual(['RequestParamError', 'model']);
    expect(noRun.message).toMatch(/stories260K\.gguf has no trained run: train it first/);
    const badModel = await failure(client.request({ ...greedy, model: 'adapted' as 'tuned' }));
    expect([badModel.name, badModel.field]).toEqual(['RequestParamError', 'model']);
    const peqa = await failure(client.request({ type: 'train-plan', ...SETTINGS, bits: null }));
    expect(peqa.name).toBe('TrainConfigError');
    expect(peqa.message).toMatch(/stories260K\.gguf: no linear layer is stored quantized/);
    const seq = await failure(client.request({ type: 'train-plan', ...SETTINGS, seqLen: Number.NaN }));
    expect([seq.name, seq.field]).toEqual(['RequestParamError', 'seq len']);
    const lq = await failure(client.request({ type: 'train-plan', ...SETTINGS, method: 'lqlora', bits: null }));
    expect([lq.name, lq.field]).toEqual(['RequestParamError', 'bits']);
    // One character: the held-out tail takes it all, nothing is left to train on.
    const tiny = await failure(client.request({ type: 'train', ...SETTINGS, file: new File(['a'], 'tiny.txt'), name: 'tiny.txt' }));
    expect(tiny.name).toBe('DatasetError');
    expect(tiny.message).toMatch(/^tiny\.txt: gives no training window of 32 tokens/);
    const empty = await failure(client.request({ type: 'train-data', file: new File([''], 'empty.txt'), name: 'empty.txt', seqLen: 32, seed: 0 }));
    expect([empty.name, empty.message]).toEqual(['DatasetError', 'empty.txt: the file is empty']);
    const bytes = await failure(client.request({ type: 'train-data', file: new File([new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x0a])], 'latin1.txt'), name: 'latin1.txt', seqLen: 32, seed: 0 }));
    expect(bytes.message).toBe('latin1.txt: is not UTF-8 text; save it as UTF-8 and drop it again');
  });
});
