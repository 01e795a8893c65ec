// What the store shows after the model or the data changes (issue 21, item 6),
// and a drop on "Model files" the worker refuses (item 2), with a stand-in for
// the engine client: old results (the run's chart, samples and failure, the
// export's files and error, Generate's output) leave the screen with the model
// they were of; a new data file's read starts without the old file's counts;
// a refused drop changes nothing, and a model dropped mid-run waits for a yes.
import { describe, expect, it } from 'vitest';
import { cancelModelDrop, dropModelFiles, loadModel, readTrainData, startTraining } from '../../src/state/actions.ts';
import { createAppStore, type AppStore } from '../../src/state/store.ts';
import type { EngineClient } from '../../src/worker/client.ts';
import type { ModelLoaded, TrainDataReport } from '../../src/worker/protocol.ts';

type Answer = (req: { type: string; [k: string]: unknown }) => Promise<unknown>;
/** A client whose answers the test gives per request type; unanswered requests stay pending. */
function fakeClient(answers: Record<string, Answer>): EngineClient & { sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    request(req: { type: string }) {
      sent.push(req.type);
      const a = answers[req.type];
      return a ? a(req) : new Promise(() => {});
    },
  } as unknown as EngineClient & { sent: string[] };
}

const gguf = { path: 'stories260K.gguf', file: new File(['x'], 'stories260K.gguf') };
const loaded = { facts: {}, opened: ['stories260K.gguf'], ignored: [], linearTypes: ['F32'] } as unknown as ModelLoaded;
const report = (file: string) => ({ file, counts: { trainWindows: 9 }, preview: [], problems: [], problemCount: 0, notes: [], seqLen: 64 }) as unknown as TrainDataReport;

/** A store with a model loaded, a data file read, a finished run with its chart and samples, an export that failed and a generation. */
async function storeWithResults(): Promise<AppStore> {
  const store = createAppStore();
  const client = fakeClient({ 'load-model': async () => loaded, 'train-data': async (r) => report(String(r.name)) });
  await loadModel(client, store, [gguf]);
  await readTrainData(client, store, new File(['a'], 'a.txt'));
  const s = store.getState();
  const runId = s.trainStarted(5, 'Once');
  s.trainStream(runId, { type: 'steps', points: [{ step: 1, loss: 3, lr: 1e-3, tokensPerSecond: 10, gpuBytes: 1, elapsedMs: 1 }] });
  s.trainStream(runId, { type: 'sample', when: 'before', prompt: 'Once', text: ' upon' });
  s.trainFailed(runId, Object.assign(new Error('boom'), { name: 'GpuDeviceLostError' }));
  s.exportChoicesStarted(runId, s.model.loadId);
  const job = s.exportStarted('gguf', 'download', null);
  s.exportStream(job, { type: 'written', file: 'README.md', index: 0, total: 2, bytes: 10, blob: null } as never, 'blob:x');
  s.exportFailed(job, Object.assign(new Error('no run'), { name: 'NoTrainedRunError' }));
  const gen = s.generateStarted('Once');
  s.generateToken(gen, { id: 1, text: ' upon' });
  return store;
}

describe('switching the model', () => {
  it("clears the last run's chart, samples and failure, the export and Generate's output", async () => {
    const store = await storeWithResults();
    const before = store.getState();
    expect([before.train.run.status, before.train.run.steps.length, before.export.job.files.length, before.generation.text]).toEqual(['error', 1, 1, ' upon']);

    await loadModel(fakeClient({ 'load-model': () => Promise.reject(Object.assign(new Error('bad'), { name: 'GgufError' })) }), store, [gguf]);
    const s = store.getState();
    expect(s.model.status).toBe('error');
    expect(s.train.run).toMatchObject({ status: 'idle', steps: [], losses: [], error: null, samples: { prompt: '', before: null, after: null } });
    expect(s.train.run.runId).toBe(before.train.run.runId); // numbering goes on
    expect(s.export.job).toMatchObject({ status: 'idle', files: [], error: null });
    expect(s.export.choices).toMatchObject({ status: 'idle', report: null, error: null });
    expect(s.generation).toMatchObject({ status: 'idle', text: '', error: null });
    // The data report was tokenized by the other model: it goes, the file name stays for the re-read.
    expect(s.train.data).toMatchObject({ name: 'a.txt', report: null });
  });
});

describe('switching the data file', () => {
  it("a new file's read starts without the old file's counts and the old run; the same file re-read keeps them", async () => {
    const store = await storeWithResults();
    const pending = fakeClient({});
    void readTrainData(pending, store, undefined); // the same file again (seq len changed)
    expect(store.getState().train.data).toMatchObject({ status: 'reading', name: 'a.txt', report: { file: 'a.txt' } });
    expect(store.getState().train.run.steps.length).toBe(1);

    void readTrainData(pending, store, new File(['b'], 'b.txt'));
    expect(store.getState().train.data).toMatchObject({ status: 'reading', name: 'b.txt', report: null });
    expect(store.getState().train.run).toMatchObject({ status: 'idle', steps: [], error: null });
  });
});

describe('a drop on "Model files"', () => {
  it('refused by the worker: nothing but the drop area changes, and no load is sent', async () => {
    const store = await storeWithResults();
    const before = store.getState();
    const client = fakeClient({ 'check-model-files': () => Promise.reject(Object.assign(new Error('1 dropped file (data.jsonl): none is a .gguf file'), { name: 'ModelFilesError' })) });
    await dropModelFiles(client, store, [{ path: 'data.jsonl', file: new File(['{}'], 'data.jsonl') }]);
    const s = store.getState();
    expect(client.sent).toEqual(['check-model-files']);
    expect(s.modelDrop).toMatchObject({ status: 'rejected', label: 'data.jsonl', error: { name: 'ModelFilesError' } });
    expect([s.model, s.files, s.train, s.export, s.generation]).toEqual([before.model, before.files, before.train, before.export, before.generation]);
  });

  it('a model while a run goes waits for a yes; "keep training" forgets it', async () => {
    const store = await storeWithResults();
    const client = fakeClient({ 'check-model-files': async () => ({ opened: ['stories260K.gguf'], ignored: [] }) });
    void startTraining(fakeClient({}), store); // never answers: the run goes on
    expect(store.getState().train.run.status).toBe('running');
    await dropModelFiles(client, store, [gguf]);
    expect(store.getState().modelDrop.status).toBe('confirm');
    expect(client.sent).toEqual(['check-model-files']);
    cancelModelDrop(store);
    expect(store.getState().modelDrop.status).toBe('idle');
    expect(store.getState().train.run.status).toBe('running');
    expect(store.getState().model.status).toBe('ready');
  });
});
