// Where checkpoints go, abstractly: named byte blobs written atomically. The
// engine only ever calls write(name, bytes) and read(name), so the same
// checkpoint code runs over a folder in Node (store.node.ts), and later over
// OPFS or a picked folder in the browser's worker. A store must keep the old
// blob under a name until the new one is completely written (write to a
// temporary name, then rename), so a kill or a full disk mid-write leaves the
// previous checkpoint readable.

export interface CheckpointStore {
  /** Where the blobs live, in words for messages (a folder path, "OPFS run-3"). */
  readonly where: string;
  /** Replace blob `name` atomically; rejects with CheckpointWriteError, the old blob intact. */
  write(name: string, bytes: Uint8Array): Promise<void>;
  /** The blob, or null when there is none. */
  read(name: string): Promise<Uint8Array | null>;
  /** Human name of a blob for messages (e.g. the full path). */
  describe(name: string): string;
}

/** The latest state of a run, written every N steps / about every minute and at Stop. */
export const LATEST_CHECKPOINT = 'checkpoint.safetensors';
/** The state at the best held-out loss so far (with --early-stop). */
export const BEST_CHECKPOINT = 'best.safetensors';

/** A store in memory (tests; a worker with no storage granted). */
export function memoryStore(where = 'memory'): CheckpointStore & { blobs: Map<string, Uint8Array> } {
  const blobs = new Map<string, Uint8Array>();
  return {
    where,
    blobs,
    async write(name, bytes) {
      blobs.set(name, bytes.slice());
    },
    async read(name) {
      return blobs.get(name)?.slice() ?? null;
    },
    describe: (name) => `${where}/${name}`,
  };
}
