// Checkpoint pieces that need no GPU: the file format round trip (tensors and
// metadata exact, NaN/Infinity losses kept), typed errors for files that are
// not checkpoints or are torn, when checkpoints are due, the held-out guard's counting, the identity
// check's messages, and the folder store's atomic replace and error words.
import { mkdtempSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeSafetensors } from '../../src/io/safetensors/writer.ts';
import { CheckpointError, CheckpointMismatchError, CheckpointWriteError } from '../../src/train/checkpoint/errors.ts';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '../../src/train/checkpoint/format.ts';
import { newGuard, observe } from '../../src/train/checkpoint/guard.ts';
import { CHECKPOINT_SECONDS, checkpointDue } from '../../src/train/checkpoint/session.ts';
import { checkIdentity, dataIdentity, type RunIdentity } from '../../src/train/checkpoint/identity.ts';
import { folderStore } from '../../src/train/checkpoint/store.node.ts';

async function sample(): Promise<Checkpoint> {
  const identity: RunIdentity = { model: { name: 'm.gguf', format: 'gguf', bytes: 1000, tensors: 3, sha256: 'ab'.repeat(32) }, data: [await dataIdentity('train', 'd.txt', 'hello')] };
  return {
    settings: { method: 'peqa', steps: 8, evalData: null },
    identity,
    progress: {
      step: 3, cursor: 6,
      adamw: { t: 2, snapT: 1, updatedSinceSnapshot: true, lrScale: 0.5, consecutiveBad: 0, calls: 3 },
      before: { type: 'eval', step: 0, evalLoss: 4.25, evalPpl: Math.exp(4.25), tokens: 64 },
      losses: [4.1, NaN, Infinity], samples: [], guard: { patience: 2, best: 4.25, bestStep: 0, since: 1 },
    },
    tensors: new Map([['param/a', new Float32Array([1, -2, 3.5])], ['m/a', new Float32Array([0.1, 0.2, 1e-30])], ['best/a', new Float32Array(0)]]),
  };
}

describe('checkpoint format', () => {
  it('round-trips tensors and run metadata exactly, non-finite losses included', async () => {
    const c = await sample();
    const back = await decodeCheckpoint(await encodeCheckpoint(c), 'ck');
    expect(back.settings).toEqual(c.settings);
    expect(back.identity).toEqual(c.identity);
    expect(back.progress).toEqual(c.progress);
    expect(Number.isNaN(back.progress.losses[1]) && back.progress.losses[2] === Infinity).toBe(true);
    expect([...back.tensors.keys()].sort()).toEqual([...c.tensors.keys()].sort());
    for (const [k, v] of c.tensors) expect(back.tensors.get(k)).toEqual(v);
  });

  it('refuses what is not a whole checkpoint with a CheckpointError naming the file', async () => {
    const bytes = await encodeCheckpoint(await sample());
    await expect(decodeCheckpoint(bytes.subarray(0, bytes.length - 3), 'run/checkpoint.safetensors')).rejects.toThrow(CheckpointError);
    await expect(decodeCheckpoint(bytes.subarray(0, bytes.length - 3), 'run/checkpoint.safetensors')).rejects.toThrow(/^run\/checkpoint\.safetensors: is not a readable checkpoint/);
    const other = await encodeSafetensors([{ name: 'x', dtype: 'F32', shape: [1], data: new Float32Array([1]) }], { metadata: { format: 'pt' } });
    await expect(decodeCheckpoint(other, 'w.safetensors')).rejects.toThrow(/w\.safetensors: is not a sub4 checkpoint \(format "pt"\)/);
    const future = await encodeSafetensors([], { metadata: { format: 'sub4-checkpoint', checkpoint: JSON.stringify({ version: 99 }) } });
    await expect(decodeCheckpoint(future, 'f')).rejects.toThrow(/f: has version 99; this sub4 reads version 1/);
    const noProgress = await encodeSafetensors([], { metadata: { format: 'sub4-checkpoint', checkpoint: JSON.stringify({ version: 1, settings: {}, identity: (await sample()).identity }) } });
    await expect(decodeCheckpoint(noProgress, 'p')).rejects.toThrow(/p: has no valid progress/);
  });
});

describe('checkpoint cadence', () => {
  it('every N steps with --checkpoint-every N; about every minute by default; only at the end with 0', () => {
    expect([1, 2, 3, 4, 5, 6].filter((s) => checkpointDue(3, CHECKPOINT_SECONDS, s, 0))).toEqual([3, 6]);
    expect(CHECKPOINT_SECONDS).toBe(60);
    expect(checkpointDue(null, CHECKPOINT_SECONDS, 7, 59_999)).toBe(false);
    expect(checkpointDue(null, CHECKPOINT_SECONDS, 7, 60_000)).toBe(true);
    expect([1, 2, 3].some((s) => checkpointDue(0, CHECKPOINT_SECONDS, s, 1e9))).toBe(false);
  });
});

describe('held-out guard', () => {
  it('stops after `patience` evaluations without a strictly better loss; NaN is never better', () => {
    const g = newGuard(2);
    expect(observe(g, 0, 5)).toBe('best');
    expect(observe(g, 2, 4)).toBe('best');
    expect(observe(g, 4, 4)).toBe('go'); // equal is not better
    expect(observe(g, 6, 3.5)).toBe('best');
    expect(observe(g, 8, NaN)).toBe('go');
    expect(observe(g, 10, 3.6)).toBe('stop');
    expect(g).toEqual({ patience: 2, best: 3.5, bestStep: 6, since: 2 });
    expect(() => newGuard(0)).toThrow(RangeError);
  });
});

describe('identity', () => {
  it('names the checkpoint, both models or both data files and what differs', async () => {
    const a = (await sample()).identity;
    expect(() => checkIdentity(a, structuredClone(a), 'ck')).not.toThrow();
    const otherModel = { ...a, model: { ...a.model, name: 'n.gguf', sha256: 'cd'.repeat(32) } };
    expect(() => checkIdentity(a, otherModel, 'run/ck')).toThrow(CheckpointMismatchError);
    expect(() => checkIdentity(a, otherModel, 'run/ck')).toThrow(/^run\/ck: was made with the model m\.gguf \(1000 bytes, header sha256 abababababab…\); n\.gguf .* is a different model/);
    const otherData = { ...a, data: [await dataIdentity('train', 'd.txt', 'hellO')] };
    expect(() => checkIdentity(a, otherData, 'ck')).toThrow(/ck: was made with the train data d\.txt \(5 bytes, sha256 [0-9a-f]{12}…\); d\.txt \(5 bytes, sha256 [0-9a-f]{12}…\) is different data/);
    const withEval = { ...a, data: [...a.data, await dataIdentity('eval', 'e.txt', 'x')] };
    expect(() => checkIdentity(a, withEval, 'ck')).toThrow(/ck: was made without separate eval data; this run has eval data e\.txt/);
  });
});

describe('folder store', () => {
  it('replaces a blob only when the new one is complete; a full disk keeps the old one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sub4-store-'));
    const store = folderStore(dir);
    expect(await store.read('c')).toBeNull();
    await store.write('c', new Uint8Array([1, 2, 3]));
    await store.write('c', new Uint8Array([4, 5]));
    expect(await store.read('c')).toEqual(new Uint8Array([4, 5]));
    symlinkSync('/dev/full', join(dir, 'c.partial'));
    const err = await store.write('c', new Uint8Array(1 << 16)).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointWriteError);
    expect((err as Error).message).toBe(`${join(dir, 'c')}: the checkpoint could not be written: the disk is full (ENOSPC); the previous checkpoint is kept`);
    expect(await store.read('c')).toEqual(new Uint8Array([4, 5]));
    expect(readdirSync(dir)).toEqual(['c']);
    const underFile = folderStore(join(dir, 'c', 'run'));
    await expect(underFile.write('c', new Uint8Array(1))).rejects.toThrow(`${join(dir, 'c', 'run', 'c')}: the checkpoint could not be written: a part of the path is a file, not a folder (ENOTDIR)`);
  });
});
