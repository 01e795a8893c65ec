// The quantizer pool in the browser: module Web Workers (Vite bundles the
// entry), one per logical core by default; usable from the page or from the
// engine worker (workers may start workers).
import { QuantizePool, type PoolOptions, type PoolWorker } from './pool.ts';

function spawn(): PoolWorker {
  const w = new Worker(new URL('./quantize_worker.browser.ts', import.meta.url), { type: 'module' });
  return {
    post: (req, transfer) => w.postMessage(req, transfer),
    onReply: (cb) => w.addEventListener('message', (e: MessageEvent) => cb(e.data)),
    onError: (cb) => w.addEventListener('error', (e: ErrorEvent) => cb(new Error(e.message || 'quantizer worker failed'))),
    terminate: () => w.terminate(),
  };
}

export function createBrowserQuantizePool(size = navigator.hardwareConcurrency || 4, o?: PoolOptions): QuantizePool {
  return new QuantizePool(spawn, size, o);
}
