// The built-in demo: one click fetches stories260K (Q4_0, 277 KB) and 40 KB of
// Shakespeare from the page's own origin (public/demo/, shipped in the build),
// then runs the same steps a user's drops do — load the model, read the text,
// train with a quick PEQA setting — so the panels show a real run, its before /
// after samples and the exports it can write. Nothing else is fetched.
import type { EngineClient } from '../worker/client.ts';
import { loadModel, readTrainData, startTraining } from './actions.ts';
import { Sub4Error } from '../base/errors.ts';
import type { TrainForm } from './slices/train.ts';
import type { AppStore } from './store.ts';

export const DEMO_MODEL = 'demo/stories260K-q4_0.gguf';
export const DEMO_DATA = 'demo/shakespeare-40k.txt';

/** A quick run: PEQA on the file's own Q4_0 scales, short windows, a few held-out windows. */
export const DEMO_FORM: Partial<TrainForm> = {
  preset: 'custom',
  method: 'peqa',
  bits: 'file',
  steps: '60',
  lr: '1e-3',
  batch: '2',
  seqLen: '64',
  evalEvery: '0',
  evalWindows: '4',
  seed: '0',
  samplePrompt: 'Once upon a time',
  sampleTokens: '24',
};

/** The demo could not run: a file did not arrive, or a step did not finish. */
export class DemoError extends Sub4Error {}

async function fetchFile(base: string, path: string, onBytes: (n: number, total: number) => void): Promise<File> {
  const url = new URL(path, base);
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new DemoError(`The demo file ${path} could not be fetched from ${url.origin}: ${(e as Error).message}`);
  }
  if (!res.ok || !res.body) throw new DemoError(`The demo file ${path} is missing from this build (HTTP ${res.status} for ${url.pathname})`);
  const total = Number(res.headers.get('content-length') ?? 0);
  const chunks: Uint8Array[] = [];
  let n = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    n += value.length;
    onBytes(n, total);
  }
  return new File(chunks as BlobPart[], path.slice(path.lastIndexOf('/') + 1));
}

/** Run the demo from `base` (the page's URL): fetch, load, read, train. Errors end in the demo slice. */
export async function tryDemo(client: EngineClient, store: AppStore, base: string): Promise<void> {
  const s = store.getState();
  const run = s.train.run.status;
  if (run === 'running' || run === 'paused' || (s.demo.step !== 'idle' && s.demo.step !== 'done' && s.demo.step !== 'error')) return;
  try {
    s.demoStep('fetching');
    const seen = [0, 0];
    const totals = [0, 0];
    const progress = (i: number) => (n: number, total: number) => {
      seen[i] = n;
      totals[i] = total;
      s.demoFetched(seen[0] + seen[1], totals[0] && totals[1] ? totals[0] + totals[1] : 0);
    };
    const [model, data] = await Promise.all([fetchFile(base, DEMO_MODEL, progress(0)), fetchFile(base, DEMO_DATA, progress(1))]);

    s.demoStep('loading');
    s.trainFormChanged(DEMO_FORM);
    await loadModel(client, store, [{ path: model.name, file: model }]);
    const m = store.getState().model;
    if (m.status !== 'ready') throw new DemoError(`The demo model did not load: ${m.error?.message ?? m.status}`);

    s.demoStep('reading');
    await readTrainData(client, store, data);
    const d = store.getState().train.data;
    if (d.status !== 'ready') throw new DemoError(`The demo text could not be read: ${d.error?.message ?? d.status}`);

    s.demoStep('training');
    await startTraining(client, store);
    const r = store.getState().train.run;
    if (r.status !== 'done' && r.status !== 'stopped') throw new DemoError(`The demo run ended ${r.status}${r.error ? `: ${r.error.message}` : ''}`);
    s.demoStep('done');
  } catch (err) {
    store.getState().demoFailed(err);
  }
}
