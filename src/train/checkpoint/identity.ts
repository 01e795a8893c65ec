// Who a checkpoint belongs to: the base model and the data it was trained on.
// A checkpoint only continues on the same ones (a resumed run on other weights
// or other data would silently mix two runs), so each is identified by a
// SHA-256 and its size. Data files are small: their whole text is hashed.
// Model files can be gigabytes: what is hashed is the file's header and tensor
// table (for GGUF the exact bytes before the data section, which hold every
// metadata key and tensor offset; for any model the config and the table of
// names, types, shapes and byte sizes) plus the total size, never the weights.
import type { LoadedModel } from '../../io/loaded_model.ts';
import { CheckpointMismatchError } from './errors.ts';

export interface ModelIdentity {
  name: string;
  format: string;
  /** Bytes of every file that makes up the model. */
  bytes: number;
  tensors: number;
  /** SHA-256 (hex) of the header and tensor table. */
  sha256: string;
}

export interface DataIdentity {
  role: 'train' | 'eval';
  file: string;
  /** UTF-8 bytes of the text. */
  bytes: number;
  sha256: string;
}

export interface RunIdentity {
  model: ModelIdentity;
  data: DataIdentity[];
}

/** At most this much of a GGUF header is hashed (a header with a huge vocabulary is still a few MB). */
const MAX_HEADER = 64 * 2 ** 20;

async function sha256(parts: readonly Uint8Array[]): Promise<string> {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const all = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  const digest = await crypto.subtle.digest('SHA-256', all as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export async function modelIdentity(file: LoadedModel): Promise<ModelIdentity> {
  const table = [...file.tensors.values()].map((t) => [t.name, t.type, t.shape, t.bytes]);
  // Config fields are plain today; bigints and typed arrays are spelled out so a new field cannot break hashing.
  const plain = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v);
  const parts: Uint8Array[] = [new TextEncoder().encode(JSON.stringify({ format: file.format, bytes: file.fileBytes, config: file.config, table, hf: file.hf?.configJson ?? null }, plain))];
  if (file.gguf) {
    const g = file.gguf;
    parts.push(await g.source.read(0, Math.min(g.dataOffset, g.source.size, MAX_HEADER)));
  }
  return { name: file.name, format: file.format, bytes: file.fileBytes, tensors: file.tensors.size, sha256: await sha256(parts) };
}

export async function dataIdentity(role: DataIdentity['role'], file: string, text: string): Promise<DataIdentity> {
  const bytes = new TextEncoder().encode(text);
  return { role, file, bytes: bytes.length, sha256: await sha256([bytes]) };
}

const short = (h: string) => h.slice(0, 12);

/**
 * Refuse to continue `checkpointFile` on a model or data that differ from the
 * ones it was made with; the error names both files and what differs.
 */
export function checkIdentity(saved: RunIdentity, now: RunIdentity, checkpointFile: string): void {
  const m0 = saved.model;
  const m1 = now.model;
  if (m0.sha256 !== m1.sha256 || m0.bytes !== m1.bytes)
    throw new CheckpointMismatchError(
      checkpointFile,
      `was made with the model ${m0.name} (${m0.bytes} bytes, header sha256 ${short(m0.sha256)}…); ${m1.name} (${m1.bytes} bytes, header sha256 ${short(m1.sha256)}…) is a different model. A checkpoint only continues on the model it was trained on`,
    );
  for (const role of ['train', 'eval'] as const) {
    const d0 = saved.data.find((d) => d.role === role);
    const d1 = now.data.find((d) => d.role === role);
    if (!d0 && !d1) continue;
    if (!d0 || !d1)
      throw new CheckpointMismatchError(checkpointFile, `was made ${d0 ? `with ${role} data ${d0.file}` : `without separate ${role} data`}; this run has ${d1 ? `${role} data ${d1.file}` : `no separate ${role} data`}`);
    if (d0.sha256 !== d1.sha256 || d0.bytes !== d1.bytes)
      throw new CheckpointMismatchError(
        checkpointFile,
        `was made with the ${role} data ${d0.file} (${d0.bytes} bytes, sha256 ${short(d0.sha256)}…); ${d1.file} (${d1.bytes} bytes, sha256 ${short(d1.sha256)}…) is different data. A checkpoint only continues on the data it was trained on`,
      );
  }
}
