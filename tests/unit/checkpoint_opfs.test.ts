// The studio's checkpoint store over OPFS (src/worker/checkpoint_opfs.ts) and the
// saved-runs list (src/worker/runs.ts), on an in-memory stand-in for the
// origin-private file system that behaves as Chromium's does where it matters:
// a writable's bytes replace the file only at close(), abort() drops them, a
// missing entry is a NotFoundError, and the quota can run out mid-write.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CheckpointWriteError } from '../../src/train/checkpoint/errors.ts';
import { encodeCheckpoint } from '../../src/train/checkpoint/format.ts';
import { opfsStore } from '../../src/worker/checkpoint_opfs.ts';
import { runsDelete, runsList } from '../../src/worker/runs.ts';

const notFound = (name: string) => new DOMException(`${name} not found`, 'NotFoundError');

interface Disk {
  /** Bytes a writable may hold before QuotaExceededError; Infinity: no limit. */
  room: number;
}

class FakeDir {
  readonly kind = 'directory';
  readonly dirs = new Map<string, FakeDir>();
  readonly files = new Map<string, { bytes: Uint8Array; at: number }>();
  constructor(private readonly disk: Disk) {}

  async getDirectoryHandle(name: string, o?: { create?: boolean }): Promise<FakeDir> {
    let d = this.dirs.get(name);
    if (!d && !o?.create) throw notFound(name);
    if (!d) this.dirs.set(name, (d = new FakeDir(this.disk)));
    return d;
  }

  async getFileHandle(name: string, o?: { create?: boolean }) {
    if (!this.files.has(name)) {
      if (!o?.create) throw notFound(name);
      this.files.set(name, { bytes: new Uint8Array(0), at: Date.now() });
    }
    const files = this.files;
    const disk = this.disk;
    return {
      kind: 'file',
      async getFile() {
        return new File([files.get(name)!.bytes as Uint8Array<ArrayBuffer>], name, { lastModified: files.get(name)!.at });
      },
      async createWritable() {
        let swap: Uint8Array | null = new Uint8Array(0);
        return {
          async write(b: Uint8Array) {
            if (swap!.length + b.length > disk.room) throw new DOMException('quota', 'QuotaExceededError');
            const next = new Uint8Array(swap!.length + b.length);
            next.set(swap!);
            next.set(b, swap!.length);
            swap = next;
          },
          async close() {
            files.set(name, { bytes: swap!, at: Date.now() });
            swap = null;
          },
          async abort() {
            swap = null;
          },
        };
      },
    };
  }

  async removeEntry(name: string) {
    if (!this.dirs.delete(name) && !this.files.delete(name)) throw notFound(name);
  }

  async *entries(): AsyncIterable<[string, unknown]> {
    for (const [n, d] of this.dirs) yield [n, d];
    for (const n of this.files.keys()) yield [n, await this.getFileHandle(n)];
  }
}

const bytes = (...v: number[]) => new Uint8Array(v);
const roomy = async () => ({ usage: 0, quota: 1e9 });

function setup(room = Infinity) {
  const disk: Disk = { room };
  const runs = new FakeDir(disk);
  return { disk, runs, handle: runs as unknown as FileSystemDirectoryHandle };
}

describe('the OPFS checkpoint store', () => {
  it('writes, reads back and replaces a blob; a run without a folder reads as none', async () => {
    const { handle, runs } = setup();
    const store = opfsStore(handle, 'r1', roomy);
    expect(await store.read('checkpoint.safetensors')).toBeNull();
    await store.write('checkpoint.safetensors', bytes(1, 2, 3));
    await store.write('checkpoint.safetensors', bytes(4, 5));
    expect(await store.read('checkpoint.safetensors')).toEqual(bytes(4, 5));
    expect([...runs.dirs.keys()]).toEqual(['r1']);
    expect(store.describe('checkpoint.safetensors')).toBe('browser storage sub4-runs/r1/checkpoint.safetensors');
  });

  it('refuses a write the quota cannot hold, in words, before touching the old checkpoint', async () => {
    const { handle } = setup();
    let quota = 1e9;
    const store = opfsStore(handle, 'r1', async () => ({ usage: 5e8, quota }));
    await store.write('checkpoint.safetensors', bytes(1, 2, 3));
    quota = 5e8 + 1000;
    const err = await store.write('checkpoint.safetensors', new Uint8Array(4000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointWriteError);
    expect((err as Error).message).toMatch(/^browser storage sub4-runs\/r1\/checkpoint\.safetensors: the browser's storage for this page is full \(0\.0 MiB free of 476\.8 MiB; the checkpoint needs 0\.0 MiB\).*the previous checkpoint is kept/);
    expect(await store.read('checkpoint.safetensors')).toEqual(bytes(1, 2, 3));
  });

  it('a disk that fills mid-write: CheckpointWriteError, and the previous checkpoint survives whole', async () => {
    const { handle, disk } = setup();
    const store = opfsStore(handle, 'r1', roomy);
    await store.write('checkpoint.safetensors', bytes(7, 7, 7, 7));
    disk.room = 2;
    const err = await store.write('checkpoint.safetensors', bytes(1, 2, 3, 4, 5)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointWriteError);
    expect((err as Error).message).toContain("the checkpoint could not be written: the browser's storage for this page is full; the previous checkpoint is kept");
    expect(await store.read('checkpoint.safetensors')).toEqual(bytes(7, 7, 7, 7));
  });

  it('writes asked for at once land one after the other, the last one kept', async () => {
    const { handle } = setup();
    const store = opfsStore(handle, 'r1', roomy);
    await Promise.all([store.write('c', bytes(1)), store.write('c', bytes(2)), store.write('c', bytes(3))]);
    expect(await store.read('c')).toEqual(bytes(3));
  });
});

describe('the saved-runs list', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  function withStorage(root: FakeDir) {
    vi.stubGlobal('navigator', { ...globalThis.navigator, storage: { getDirectory: async () => root, estimate: async () => ({ usage: 1234, quota: 1e9 }) } });
  }

  it('reads each run from its checkpoint header: method, model, data, step of steps; unreadable runs say why; delete removes', async () => {
    const root = new FakeDir({ room: Infinity });
    withStorage(root);
    const runs = await root.getDirectoryHandle('sub4-runs', { create: true });
    const ck = await encodeCheckpoint({
      settings: { method: 'peqa', steps: 300 },
      identity: { model: { name: 'model.gguf', format: 'gguf', bytes: 10, tensors: 1, sha256: 'ab' }, data: [{ role: 'train', file: 'data.txt', bytes: 3, sha256: 'cd' }] },
      progress: { step: 120, cursor: 7, adamw: { t: 120, lrFactor: 1 } as never, before: null, losses: [1, 2], samples: [], guard: null },
      tensors: new Map([['param/x', new Float32Array([1, 2])]]),
    });
    await opfsStore(runs as unknown as FileSystemDirectoryHandle, 'a', roomy).write('checkpoint.safetensors', ck);
    await opfsStore(runs as unknown as FileSystemDirectoryHandle, 'b', roomy).write('checkpoint.safetensors', bytes(1, 2, 3));
    await runs.getDirectoryHandle('c', { create: true });

    const list = await runsList();
    expect(list.storage).toEqual({ usage: 1234, quota: 1e9 });
    const byId = new Map(list.runs.map((r) => [r.id, r]));
    expect(byId.get('a')).toMatchObject({ method: 'peqa', model: 'model.gguf', data: 'data.txt', step: 120, totalSteps: 300, bytes: ck.length, problem: null });
    expect(byId.get('b')!.problem).toMatch(/^browser storage sub4-runs\/b\/checkpoint\.safetensors: is not a readable checkpoint: .*too short/);
    expect(byId.get('c')!.problem).toBe('no checkpoint was written');

    expect(await runsDelete({ type: 'runs-delete', run: 'a' })).toEqual({ deleted: true });
    expect(await runsDelete({ type: 'runs-delete', run: 'a' })).toEqual({ deleted: false });
    expect((await runsList()).runs.map((r) => r.id).sort()).toEqual(['b', 'c']);
    await expect(runsDelete({ type: 'runs-delete', run: '../x' })).rejects.toThrow(/is not a run id/);
  });
});
