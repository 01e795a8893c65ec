// Validation of a safetensors header (the JSON after the 8-byte length) against
// the spec (huggingface/safetensors README "Format", tensor.rs `validate`).
// Pure and synchronous so the fuzz test can hammer it; every failure is a
// SafetensorsError naming the file, the tensor and the rule broken.
import { SafetensorsError } from '../../base/errors.ts';
import { DTYPES, isDtype, type SafetensorsDtype } from './dtypes.ts';

/** Same cap as the reference reader (MAX_HEADER_SIZE = 100,000,000). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsTensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  /** Row-major (C order) shape; [] is a scalar. */
  readonly shape: readonly number[];
  readonly numel: number;
  /** [begin, end) relative to the start of the data section. */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  /** Tensors in data order (sorted by begin). */
  readonly tensors: readonly SafetensorsTensorInfo[];
  readonly metadata: ReadonlyMap<string, string>;
  /**
   * Tolerated deviations: gaps between tensors or unused bytes after the last.
   * The reference reader rejects both ("incomplete buffer"), but neither makes a
   * tensor ambiguous or unsafe to slice, so sub4 loads such files and reports
   * them here rather than refusing a model some other writer produced.
   */
  readonly warnings: readonly string[];
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses and validates header JSON bytes.
 * @param dataSize bytes after the header (file size − 8 − header length).
 */
export function parseSafetensorsHeader(jsonBytes: Uint8Array, file: string, dataSize: number): SafetensorsHeader {
  const fail = (detail: string): never => {
    throw new SafetensorsError(file, detail);
  };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(jsonBytes);
  } catch {
    return fail('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail('header does not start with "{" (not a safetensors file?)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(parsed)) return fail('header JSON is not an object');

  const metadata = new Map<string, string>();
  const tensors: SafetensorsTensorInfo[] = [];
  // Note: JSON.parse keeps the last of duplicate keys. The spec forbids
  // duplicates; the earlier entry's bytes then show up as a gap (a warning).
  for (const [name, entry] of Object.entries(parsed)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) fail('__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__["${k}"] is ${typeof v}, must be a string`);
        metadata.set(k, v as string);
      }
      continue;
    }
    tensors.push(parseTensorEntry(name, entry, dataSize, fail));
  }

  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const warnings: string[] = [];
  let pos = 0;
  let prev: SafetensorsTensorInfo | null = null;
  for (const t of tensors) {
    if (t.begin < pos)
      fail(`tensor ${t.name} (bytes ${t.begin}..${t.end}) overlaps tensor ${prev!.name} (bytes ${prev!.begin}..${prev!.end})`);
    if (t.begin > pos) warnings.push(`${t.begin - pos} unused bytes before tensor ${t.name} at data offset ${pos}`);
    pos = t.end;
    prev = t;
  }
  if (pos < dataSize) warnings.push(`${dataSize - pos} unused bytes after the last tensor`);
  return { tensors, metadata, warnings };
}

function parseTensorEntry(
  name: string,
  entry: unknown,
  dataSize: number,
  fail: (detail: string) => never,
): SafetensorsTensorInfo {
  const where = `tensor ${JSON.stringify(name)}`;
  if (!isPlainObject(entry)) fail(`${where}: entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (!isDtype(dtype))
    fail(`${where}: unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPES).join(', ')})`);
  const dt = dtype as SafetensorsDtype;
  if (!Array.isArray(shape)) return fail(`${where}: shape is not an array`);
  let numel = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) fail(`${where}: shape entry ${JSON.stringify(d)} is not a non-negative integer`);
    numel *= d;
    if (!Number.isSafeInteger(numel)) fail(`${where}: shape [${shape.join(', ')}] has too many elements`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2) return fail(`${where}: data_offsets must be [begin, end]`);
  const [begin, end] = offsets as unknown[];
  if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || (begin as number) < 0 || (end as number) < (begin as number))
    fail(`${where}: data_offsets ${JSON.stringify(offsets)} must be integers with 0 ≤ begin ≤ end`);
  const b = begin as number;
  const e = end as number;
  if (e > dataSize) fail(`${where}: data ends at byte ${e} of the data section, which has only ${dataSize} bytes (file truncated?)`);
  const bits = numel * DTYPES[dt].bits;
  if (bits % 8 !== 0) fail(`${where}: ${numel} × ${dt} is not a whole number of bytes`);
  if (bits / 8 !== e - b)
    fail(`${where}: shape [${shape.join(', ')}] × ${dt} is ${bits / 8} bytes but data_offsets span ${e - b}`);
  return { name, dtype: dt, shape: shape as number[], numel, begin: b, end: e };
}
