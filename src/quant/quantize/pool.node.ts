// The quantizer pool in Node: worker_threads, one per core by default. The
// worker's entry is a small .mjs that registers tsx's loader (as bin/sub4.js
// does for the CLI) and then imports quantize_worker.node.ts, so the engine's
// TypeScript runs as it is in the worker too.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { QuantizePool, type PoolOptions, type PoolWorker } from './pool.ts';

function spawn(): PoolWorker {
  const w = new Worker(new URL('./quantize_worker_boot.node.mjs', import.meta.url));
  w.unref(); // an idle pool does not keep the process alive
  return {
    post: (req, transfer) => w.postMessage(req, transfer),
    onReply: (cb) => w.on('message', cb),
    onError: (cb) => w.on('error', cb),
    terminate: () => void w.terminate(),
  };
}

export function createNodeQuantizePool(size = availableParallelism(), o?: PoolOptions): QuantizePool {
  return new QuantizePool(spawn, size, o);
}
