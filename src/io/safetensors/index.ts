// Sharded safetensors (transformers convention): model-0000k-of-0000n.safetensors
// plus model.safetensors.index.json = {"metadata": {"total_size": n}, "weight_map":
// {tensor: file}}. The index is the authority: every file it names must exist,
// and every tensor must be in the file it names. The result is one
// SafetensorsStore, so callers do not care whether a model is sharded.
import { SafetensorsError } from '../../base/errors.ts';
import type { ByteSource } from '../source.ts';
import type { SafetensorsTensorInfo } from './header.ts';
import { openSafetensors, type SafetensorsFile, type SafetensorsStore } from './reader.ts';

export interface ShardIndex {
  /** Tensor name → shard file name, in index order. */
  readonly weightMap: ReadonlyMap<string, string>;
  /** Distinct shard files, in first-use order. */
  readonly files: readonly string[];
  /** metadata.total_size when present (sum of tensor bytes, not file sizes). */
  readonly totalSize: number | null;
}

/** Where shards come from: a dropped folder, a directory on disk, a test map. */
export interface ShardOpener {
  has(file: string): boolean;
  open(file: string): Promise<ByteSource>;
}

/** Parses and validates model.safetensors.index.json text. */
export function parseShardIndex(text: string, indexFile: string): ShardIndex {
  const fail = (detail: string): never => {
    throw new SafetensorsError(indexFile, detail);
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail(`not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('index is not a JSON object');
  const { weight_map: wm, metadata } = json as Record<string, unknown>;
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) return fail('"weight_map" is missing or not an object');
  const weightMap = new Map<string, string>();
  const files: string[] = [];
  for (const [tensor, f] of Object.entries(wm)) {
    if (typeof f !== 'string' || f === '') fail(`weight_map["${tensor}"] is not a file name`);
    // Shards sit next to the index: a path could reach outside the model folder.
    if (/[/\\]/.test(f as string) || f === '.' || f === '..') fail(`weight_map["${tensor}"] = ${JSON.stringify(f)} is not a plain file name`);
    weightMap.set(tensor, f as string);
    if (!files.includes(f as string)) files.push(f as string);
  }
  if (weightMap.size === 0) fail('weight_map is empty');
  let totalSize: number | null = null;
  if (typeof metadata === 'object' && metadata !== null) {
    const ts = (metadata as Record<string, unknown>).total_size;
    if (ts !== undefined) {
      if (!Number.isSafeInteger(ts) || (ts as number) < 0) fail(`metadata.total_size ${JSON.stringify(ts)} is not a byte count`);
      totalSize = ts as number;
    }
  }
  return { weightMap, files, totalSize };
}

/** Opens every shard the index names and checks each tensor is where the index says. */
export async function openShardedSafetensors(index: ShardIndex, indexFile: string, opener: ShardOpener): Promise<SafetensorsStore> {
  const missing = index.files.filter((f) => !opener.has(f));
  if (missing.length) throw new SafetensorsError(indexFile, `shard file(s) listed in weight_map not found: ${missing.join(', ')}`);

  const shards = new Map<string, SafetensorsFile>();
  const closeAll = () => Promise.all([...shards.values()].map((s) => s.close()));
  try {
    for (const f of index.files) shards.set(f, await openSafetensors(await opener.open(f)));
    const tensors = new Map<string, SafetensorsTensorInfo & { readonly file: string }>();
    for (const [name, f] of index.weightMap) {
      const t = shards.get(f)!.tensors.get(name);
      if (!t) {
        const elsewhere = [...shards].find(([, s]) => s.tensors.has(name))?.[0];
        throw new SafetensorsError(
          indexFile,
          `weight_map puts tensor ${name} in ${f}, but ${f} does not contain it${elsewhere ? ` (it is in ${elsewhere})` : ''}`,
        );
      }
      tensors.set(name, { ...t, file: f });
    }
    const warnings = [...shards.values()].flatMap((s) => s.warnings.map((w) => `${s.source.name}: ${w}`));
    for (const [f, s] of shards)
      for (const name of s.tensors.keys())
        if (index.weightMap.get(name) !== f) warnings.push(`${f}: tensor ${name} is not assigned to this file by the index; ignored`);
    const bytes = [...tensors.values()].reduce((a, t) => a + t.end - t.begin, 0);
    if (index.totalSize !== null && index.totalSize !== bytes)
      warnings.push(`${indexFile}: metadata.total_size is ${index.totalSize} but the indexed tensors hold ${bytes} bytes`);

    const shardOf = (name: string) => {
      const t = tensors.get(name);
      if (!t) throw new SafetensorsError(indexFile, `no tensor named ${JSON.stringify(name)}`);
      return shards.get(t.file)!;
    };
    return {
      tensors,
      metadata: shards.get(index.files[0])!.metadata,
      warnings,
      readTensorBytes: (name, rows, into) => shardOf(name).readTensorBytes(name, rows, into),
      readTensorF32: (name, rows) => shardOf(name).readTensorF32(name, rows),
      close: async () => void (await closeAll()),
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
