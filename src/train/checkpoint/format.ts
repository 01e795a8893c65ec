// The checkpoint file: one safetensors file, so one atomic rename replaces it.
//   tensors      F32, by key: param/NAME, m/NAME, v/NAME (trainable values and
//                AdamW moments), last_good…/NAME (the rollback snapshot),
//                best/NAME (trainable values at the best held-out loss, with
//                --early-stop)
//   __metadata__ format: "sub4-checkpoint", checkpoint: JSON of
//                { version, settings (the caller's run settings, as given),
//                  identity (model and data, identity.ts), progress (step,
//                  cursor, AdamW counters, before-eval, losses, guard) }
// Non-finite numbers (a NaN loss of a bad step) survive JSON as {"$f": "NaN"}.
import { bytesSource, type ByteSource } from '../../io/source.ts';
import { openSafetensors, type SafetensorsFile } from '../../io/safetensors/reader.ts';
import { encodeSafetensors } from '../../io/safetensors/writer.ts';
import { CheckpointError } from './errors.ts';
import type { RunIdentity } from './identity.ts';
import type { RunProgress, RunState } from './run_state.ts';

export const CHECKPOINT_FORMAT = 'sub4-checkpoint';
export const CHECKPOINT_VERSION = 1;

export interface Checkpoint extends RunState {
  settings: Record<string, unknown>;
  identity: RunIdentity;
}

const encodeNumber = (_k: string, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? { $f: String(v) } : v);
const decodeNumber = (_k: string, v: unknown) =>
  v !== null && typeof v === 'object' && Object.keys(v).length === 1 && typeof (v as { $f?: unknown }).$f === 'string' ? Number((v as { $f: string }).$f) : v;

export async function encodeCheckpoint(c: Checkpoint): Promise<Uint8Array> {
  const meta = JSON.stringify({ version: CHECKPOINT_VERSION, settings: c.settings, identity: c.identity, progress: c.progress }, encodeNumber);
  const tensors = [...c.tensors].map(([name, data]) => ({ name, dtype: 'F32' as const, shape: [data.length], data }));
  return encodeSafetensors(tensors, { metadata: { format: CHECKPOINT_FORMAT, checkpoint: meta }, file: 'checkpoint' });
}

/** What a checkpoint says about its run, without its tensors (a listing reads only the header). */
export type CheckpointInfo = Omit<Checkpoint, 'tensors'>;

/** Read a checkpoint's run metadata from its safetensors header only (a few KB, whatever the file's size). */
export async function readCheckpointInfo(src: ByteSource, file: string): Promise<CheckpointInfo> {
  const st = await openCheckpoint(src, file);
  try {
    return parseMeta(st, file);
  } finally {
    await st.close();
  }
}

/** Parse a checkpoint; `file` names it in every error. */
export async function decodeCheckpoint(bytes: Uint8Array, file: string): Promise<Checkpoint> {
  const st = await openCheckpoint(bytesSource(bytes, file), file);
  try {
    const info = parseMeta(st, file);
    const tensors = new Map<string, Float32Array>();
    for (const [name, t] of st.tensors) {
      if (t.dtype !== 'F32') throw new CheckpointError(file, `tensor ${name} is ${t.dtype}, not F32`);
      tensors.set(name, await st.readTensorF32(name));
    }
    return { ...info, tensors };
  } finally {
    await st.close();
  }
}

async function openCheckpoint(src: ByteSource, file: string): Promise<SafetensorsFile> {
  try {
    return await openSafetensors(src);
  } catch (e) {
    throw new CheckpointError(file, `is not a readable checkpoint: ${(e as Error).message}`);
  }
}

function parseMeta(st: SafetensorsFile, file: string): CheckpointInfo {
  if (st.metadata.get('format') !== CHECKPOINT_FORMAT) throw new CheckpointError(file, `is not a sub4 checkpoint (format ${JSON.stringify(st.metadata.get('format') ?? null)})`);
  let meta: { version?: unknown; settings?: unknown; identity?: RunIdentity; progress?: RunProgress };
  try {
    meta = JSON.parse(st.metadata.get('checkpoint') ?? '', decodeNumber);
  } catch (e) {
    throw new CheckpointError(file, `has unreadable run metadata (${(e as Error).message})`);
  }
  if (meta.version !== CHECKPOINT_VERSION) throw new CheckpointError(file, `has version ${String(meta.version)}; this sub4 reads version ${CHECKPOINT_VERSION}`);
  const p = meta.progress;
  if (!p || !Number.isInteger(p.step) || !Number.isInteger(p.cursor) || typeof p.adamw !== 'object' || !Array.isArray(p.losses))
    throw new CheckpointError(file, 'has no valid progress (step, cursor, optimizer counters, losses)');
  if (!meta.identity?.model || !Array.isArray(meta.identity.data)) throw new CheckpointError(file, 'does not say which model and data it belongs to');
  if (typeof meta.settings !== 'object' || meta.settings === null) throw new CheckpointError(file, 'has no run settings');
  return { settings: meta.settings as Record<string, unknown>, identity: meta.identity, progress: p };
}
