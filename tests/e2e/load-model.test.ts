// load-model through the real client, message loop and handlers over a Node
// MessageChannel (no browser, no GPU): which dropped files make the model,
// the facts that come back, progress, partial reads, replacing the current
// model, typed errors, and the store as actions.loadModel drives it. The
// browser test (model.test.ts) runs the same path in Chromium with real pickers.
import { afterEach, describe, expect, it } from 'vitest';
import { openAsBlob } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { cancelLoad, loadModel as loadModelAction } from '../../src/state/actions.ts';
import { loadModel as loadModelHandler, ModelLoadCancelledError } from '../../src/worker/load_model.ts';
import { createAppStore } from '../../src/state/store.ts';
import { EngineClient, type WorkerLike } from '../../src/worker/client.ts';
import { ModelSlot } from '../../src/worker/model_slot.ts';
import { assertPlainData } from '../../src/worker/plain_data.ts';
import type { ModelFileRef, ProgressEvent } from '../../src/worker/protocol.ts';
import { serve, type EnginePort } from '../../src/worker/serve.ts';
import { fixture } from '../helpers/fixtures.ts';
import { writePaddedGguf } from '../helpers/padded_gguf.ts';

const GGUF = fixture('models/stories260K.gguf');
const FOLDER = fixture('models/stories260K');

const open: MessagePort[] = [];
afterEach(() => {
  for (const p of open.splice(0)) p.close();
});

function connect(): { client: EngineClient; slot: ModelSlot } {
  const { port1, port2 } = new MessageChannel();
  open.push(port1, port2);
  const slot = new ModelSlot();
  const getContext = () => Promise.reject(new Error('load-model must not need the GPU'));
  serve(port2 as unknown as EnginePort, { getContext, models: slot });
  const client = new EngineClient(port1 as unknown as WorkerLike);
  port1.start();
  port2.start();
  return { client, slot };
}

/** A file as a picker would hand it over: a lazy, file-backed Blob wrapped in a File. */
async function pick(path: string, as: string): Promise<ModelFileRef> {
  const name = as.split('/').pop()!;
  return { path: as, file: new File([await openAsBlob(path)], name) };
}

async function pickFolder(dir: string, prefix: string): Promise<ModelFileRef[]> {
  const names = (await readdir(dir)).sort();
  return Promise.all(names.map((n) => pick(join(dir, n), `${prefix}/${n}`)));
}

function made(name: string, bytes: Uint8Array<ArrayBuffer> | string): ModelFileRef {
  return { path: name, file: new File([bytes], name.split('/').pop()!) };
}

async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected the request to fail');
    },
    (e: unknown) => e as Error,
  );
}

describe.skipIf(!GGUF)('load-model: GGUF', () => {
  it('opens a .gguf, reports header progress, reads only part of the file, and keeps it as the current model', async () => {
    const { client, slot } = connect();
    const events: ProgressEvent[] = [];
    const r = await client.request({ type: 'load-model', files: [await pick(GGUF!, 'stories260K.gguf')] }, (e) => events.push(e));
    const f = r.facts;
    expect([f.format, f.name, f.architecture]).toEqual(['gguf', 'stories260K.gguf', 'llama']);
    expect([f.config.numLayers, f.config.hiddenSize, f.config.vocabSize]).toEqual([5, 64, 512]);
    expect(f.tensorTypes.F32.tensors).toBe(48);
    expect(f.tokenizer).toEqual({ kind: 'gguf-llama', vocabSize: 512, chatTemplate: false, bos: { id: 1, text: '<s>', prepended: true }, eos: [{ id: 2, text: '</s>' }] });
    expect(f.trainingMemory.lora.total).toBeGreaterThan(f.trainingMemory.peqa.total);
    expect(r.opened).toEqual(['stories260K.gguf']);
    expect(r.ignored).toEqual([]);
    expect(JSON.parse(JSON.stringify(f))).toEqual(f);

    const phases = [...new Set(events.map((e) => e.phase))];
    expect(phases).toEqual(['reading header', 'facts']);
    const reads = events.filter((e) => e.phase === 'reading header');
    const size = reads[0].total;
    expect(size).toBe(1185376);
    // Only the header was read: tensor data stays in the file until a request needs it.
    expect(reads.at(-1)!.done).toBeLessThan(size);
    console.log(`GGUF load read ${reads.at(-1)!.done} of ${size} bytes in ${reads.length} reads`);

    expect(slot.current?.name).toBe('stories260K.gguf');
    expect(slot.current?.tensors.size).toBe(48);
  });

  it('a header read in many slices: progress rises to the header end and never past it; the answer carries the split', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sub4-padded-'));
    try {
      const path = join(dir, 'padded.gguf');
      // 6 entries of 1.5 MiB: the reader's 1 MiB first slice ends inside the first, then one slice per entry.
      const { bytes, headerEnd } = await writePaddedGguf(GGUF!, path, 6, 1.5 * 2 ** 20);
      const { client } = connect();
      const events: ProgressEvent[] = [];
      const r = await client.request({ type: 'load-model', files: [await pick(path, 'padded.gguf')] }, (e) => events.push(e));
      expect(r.facts.config.vocabSize).toBe(512);
      const reads = events.filter((e) => e.phase === 'reading header');
      console.log(`padded GGUF (${bytes} bytes, header ${headerEnd}): ${reads.length} progress steps, ${reads.map((e) => e.done).join(' → ')}`);
      expect(reads.length).toBeGreaterThanOrEqual(6);
      for (let i = 1; i < reads.length; i++) expect(reads[i].done).toBeGreaterThan(reads[i - 1].done);
      // Re-reads of an entry's start count once: the last step is at most the file, at least the header.
      expect(reads.at(-1)!.done).toBeGreaterThanOrEqual(headerEnd - 64);
      expect(reads.at(-1)!.done).toBeLessThanOrEqual(bytes);
      expect(Object.keys(r.split.phases)).toEqual(['read', 'parse', 'facts']);
      expect(Object.values(r.split.phases).every((ms) => ms >= 0)).toBe(true);
      expect(r.split.totalMs).toBeGreaterThanOrEqual(r.split.phases.read);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('uses the .gguf when other files come with it', async () => {
    const { client } = connect();
    const files = [made('README.md', '# notes'), await pick(GGUF!, 'stories260K.gguf'), made('config.json', '{}')];
    const r = await client.request({ type: 'load-model', files });
    expect(r.facts.format).toBe('gguf');
    expect(r.opened).toEqual(['stories260K.gguf']);
    expect(r.ignored).toEqual(['README.md', 'config.json']);
  });

  it('fails a truncated .gguf with a GgufError naming the file, leaving no current model', async () => {
    const { client, slot } = connect();
    await client.request({ type: 'load-model', files: [await pick(GGUF!, 'stories260K.gguf')] });
    const first = slot.current!;
    let closed = 0;
    const close = first.close;
    first.close = () => (closed++, close());

    const head = new Uint8Array(await (await openAsBlob(GGUF!)).slice(0, 64).arrayBuffer());
    const err = await failure(client.request({ type: 'load-model', files: [made('broken.gguf', head)] }));
    expect(err.name).toBe('GgufError');
    expect(err.message).toMatch(/^broken\.gguf: /);
    expect(closed).toBe(1);
    expect(slot.current).toBeNull();
  });
});

describe.skipIf(!FOLDER)('load-model: Hugging Face folder', () => {
  it('opens the folder inside a picked parent folder, ignoring files elsewhere', async () => {
    const { client, slot } = connect();
    const files = [
      ...(await pickFolder(FOLDER!, 'models/stories260K')),
      made('models/notes.txt', 'x'),
      // A config.json deeper down (an original checkpoint's) must not compete with the model's own.
      made('models/stories260K/original/config.json', '{}'),
    ];
    const events: ProgressEvent[] = [];
    const r = await client.request({ type: 'load-model', files }, (e) => events.push(e));
    const f = r.facts;
    expect([f.format, f.name, f.architecture]).toEqual(['hf', 'stories260K', 'llama']);
    expect(f.tensorTypes).toEqual({ F32: { tensors: 47, parameters: 260032, bytes: 1040128 } });
    expect(f.tokenizer).toMatchObject({ kind: 'hf', vocabSize: 512, chatTemplate: false, bos: { id: 1, text: '<s>' }, eos: [{ id: 2, text: '</s>' }] });
    expect(r.opened).toHaveLength((await readdir(FOLDER!)).length);
    expect(r.ignored.sort()).toEqual(['models/notes.txt', 'models/stories260K/original/config.json']);
    expect(slot.current?.format).toBe('hf');

    const phases = [...new Set(events.map((e) => e.phase))];
    expect(phases).toEqual(expect.arrayContaining(['config', 'reading header', 'tokenizer', 'facts']));
    const lastRead = events.filter((e) => e.phase !== 'facts').at(-1)!;
    // JSON files and the safetensors header: a few per cent of the folder, not the weights.
    expect(lastRead.done).toBeLessThan(lastRead.total * 0.1);
  });
});

describe.skipIf(!GGUF || !FOLDER)('load-model: overlapping loads', () => {
  it('a load overtaken by a newer drop is closed and fails; the newer one becomes current', async () => {
    const { client, slot } = connect();
    const older = client.request({ type: 'load-model', files: [await pick(GGUF!, 'stories260K.gguf')] });
    const newer = client.request({ type: 'load-model', files: await pickFolder(FOLDER!, 'stories260K') });
    const [a, b] = await Promise.allSettled([older, newer]);
    expect(a.status).toBe('rejected');
    expect((a as PromiseRejectedResult).reason).toMatchObject({
      name: 'ModelLoadSupersededError',
      message: expect.stringMatching(/^stories260K\.gguf: a newer model/),
    });
    expect(b.status).toBe('fulfilled');
    expect(slot.current?.format).toBe('hf');
  });
});

describe('load-model: files that are not one model', () => {
  it.each([
    ['nothing', [] as ModelFileRef[], /^the drop: no files arrived/],
    ['two .gguf files', [made('a.gguf', 'x'), made('b.gguf', 'y')], /a\.gguf, b\.gguf\): 2 \.gguf files arrived .* drop just one/],
    ['split GGUF parts', [made('m-00001-of-00002.gguf', 'x'), made('m-00002-of-00002.gguf', 'y')], /llama-gguf-split --merge/],
    ['two model folders', [made('a/config.json', '{}'), made('b/config.json', '{}')], /2 model folders arrived \(a\/, b\/\)/],
    ['no model files', [made('notes.txt', 'x'), made('data.bin', 'y')], /2 dropped files \(notes\.txt, data\.bin\): none is a \.gguf file/],
  ])('%s → ModelFilesError in plain words', async (_what, files, message) => {
    const { client, slot } = connect();
    const err = await failure(client.request({ type: 'load-model', files }));
    expect(err.name).toBe('ModelFilesError');
    expect(err.message).toMatch(message);
    expect(slot.current).toBeNull();
  });

  it('a folder without config.json fails with the opener\'s ConfigError', async () => {
    const { client } = connect();
    const err = await failure(client.request({ type: 'load-model', files: [made('m/model.safetensors', 'x')] }));
    expect(err.name).toBe('ConfigError');
    expect(err.message).toContain('no config.json');
  });
});

describe('assertPlainData', () => {
  it.each([
    [{ a: 1n }, 'facts.a is a bigint value'],
    [{ a: [1, new Float32Array(2)] }, 'facts.a[1] is a Float32Array'],
    [{ m: new Map() }, 'facts.m is a Map instance'],
    [{ x: Number.NaN }, 'facts.x is the number NaN'],
    [{ u: undefined }, 'facts.u is a undefined value'],
  ])('rejects %o', (value, message) => {
    expect(() => assertPlainData(value, 'facts')).toThrow(message);
  });

  it('accepts nested plain data', () => {
    const v = { a: [1, 'b', null, { c: true }], d: Object.create(null) as object };
    expect(assertPlainData(v, 'facts')).toBe(v);
  });
});

describe.skipIf(!GGUF)('actions.loadModel → store', () => {
  it('goes loading → ready with facts and lists the files; a failed load shows the typed error', async () => {
    const { client } = connect();
    const store = createAppStore();
    const seen: string[] = [store.getState().model.status];
    store.subscribe((s) => {
      if (seen.at(-1) !== s.model.status) seen.push(s.model.status);
    });
    await loadModelAction(client, store, [await pick(GGUF!, 'stories260K.gguf')]);
    let m = store.getState().model;
    expect(seen).toEqual(['idle', 'loading', 'ready']);
    expect(m.label).toBe('stories260K.gguf');
    expect(m.facts?.config.numLayers).toBe(5);
    expect(store.getState().files).toEqual([{ path: 'stories260K.gguf', name: 'stories260K.gguf', size: 1185376 }]);

    await loadModelAction(client, store, [made('bad/x.gguf', 'GGUF'), made('bad/readme', '')]);
    m = store.getState().model;
    expect(m.status).toBe('error');
    expect(m.label).toBe('bad/ (2 files)');
    expect(m.facts).toBeNull();
    expect(m.error?.name).toBe('GgufError');
    expect(m.error?.message).toMatch(/^bad\/x\.gguf: /);
  });

  it('shows only the newest of two overlapping loads', async () => {
    const { client } = connect();
    const store = createAppStore();
    const gguf = await pick(GGUF!, 'stories260K.gguf');
    const first = loadModelAction(client, store, [gguf]);
    const second = loadModelAction(client, store, [made('second.gguf', 'not a gguf')]);
    await Promise.all([first, second]);
    const m = store.getState().model;
    expect(m.loadId).toBe(2);
    expect(m.status).toBe('error');
    expect(m.label).toBe('second.gguf');
    expect(m.facts).toBeNull();
  });

  it('the model card’s bar moves with the bytes read; Cancel stops a load and leaves no model', async () => {
    const { client, slot } = connect();
    const store = createAppStore();
    const bar: number[] = [];
    store.subscribe((st) => {
      const p = st.model.progress;
      if (st.model.status === 'loading' && p && p.phase !== 'facts' && p.total > 0 && bar.at(-1) !== p.done / p.total) bar.push(p.done / p.total);
    });
    // A folder is read file by file (config, tokenizer, safetensors header), so the bar takes several steps.
    if (!FOLDER) return;
    await loadModelAction(client, store, await pickFolder(FOLDER, 'stories260K'));
    expect(store.getState().model.status).toBe('ready');
    expect(bar.length).toBeGreaterThan(1); // the bar moved: several fractions, each larger than the last
    expect(bar.every((f, i) => f > 0 && f <= 1 && (i === 0 || f > bar[i - 1]))).toBe(true);

    // Cancel right after the request goes out: the worker stops at its next read.
    const seen: string[] = [store.getState().model.status];
    const unsub = store.subscribe((st) => {
      if (seen.at(-1) !== st.model.status) seen.push(st.model.status);
    });
    const loading = loadModelAction(client, store, [await pick(GGUF!, 'stories260K.gguf')]);
    cancelLoad(store);
    await loading;
    unsub();
    expect(seen).toEqual(['ready', 'loading', 'cancelled']);
    expect(store.getState().model.facts).toBeNull();
    expect(slot.current).toBeNull();
  });

  it('the worker’s load stops at the read after the signal aborts, with a typed error', async () => {
    const slot = new ModelSlot();
    const abort = new AbortController();
    const events: [string, number][] = [];
    const file = await pick(GGUF!, 'stories260K.gguf');
    const err = await failure(
      loadModelHandler([file], slot, (phase, done) => {
        events.push([phase, done]);
        if (events.length === 2) abort.abort();
      }, abort.signal),
    );
    expect(err).toBeInstanceOf(ModelLoadCancelledError);
    expect(err.message).toBe('Opening stories260K.gguf was cancelled; no model is open.');
    expect(events).toHaveLength(2); // nothing read or reported after the abort
    expect(slot.current).toBeNull();
  });
});
