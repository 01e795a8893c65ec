// Typed client for the engine worker: `request()` posts a numbered request and
// resolves with its result, calling back on progress (and stream) events on the
// way; a failure rejects with the worker's error rebuilt (same name and stack).
// Aborting the signal passed to request() sends the worker a `cancel` for it.
import {
  deserializeError,
  isWorkerMessage,
  type EngineRequest,
  type EngineResults,
  type EngineStreams,
  type ProgressEvent,
  type RequestType,
  type WorkerMessage,
} from './protocol.ts';

/** The part of `Worker` the client uses; a MessagePort-backed fake works in tests. */
export interface WorkerLike {
  postMessage(msg: unknown): void;
  addEventListener(type: 'message', fn: (ev: MessageEvent) => void): void;
  addEventListener(type: 'error' | 'messageerror', fn: (ev: Event) => void): void;
  terminate?(): void;
}

/** The worker itself failed (script did not load, uncaught error, terminated). */
export class EngineWorkerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineWorkerError';
  }
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  onProgress?: (p: ProgressEvent) => void;
  onStream?: (data: unknown) => void;
}

export class EngineClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closedWith: Error | null = null;

  constructor(private readonly worker: WorkerLike) {
    worker.addEventListener('message', (ev) => this.onMessage(ev.data));
    worker.addEventListener('error', (ev) => {
      // A load failure or an error outside any request handler: the worker's state is
      // unknown, so it is stopped and every waiting request fails with the reason.
      const text = (ev as { message?: unknown }).message;
      const what = typeof text === 'string' && text ? text : 'the worker script failed to load or crashed';
      this.failAll(new EngineWorkerError(`The engine worker stopped: ${what}. Reload the page to start it again.`));
      this.worker.terminate?.();
    });
    worker.addEventListener('messageerror', () => {
      this.failAll(new EngineWorkerError('A message from the engine worker could not be read (structured clone failed).'));
    });
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Send a request. Aborting `signal` asks the worker to stop it: the request
   * still settles the way its handler says (a generate resolves with what it
   * has, others reject with CancelledError), so callers keep one code path.
   */
  request<K extends RequestType>(
    req: EngineRequest<K>,
    onProgress?: (p: ProgressEvent) => void,
    onStream?: (data: EngineStreams[K]) => void,
    signal?: AbortSignal,
  ): Promise<EngineResults[K]> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = this.nextId++;
    const cancel = () => {
      // Its answer only says whether the target was still running; the target's own answer is what counts.
      if (this.pending.has(id)) this.request({ type: 'cancel', target: id }).catch(() => {});
    };
    const result = new Promise<EngineResults[K]>((resolve, reject) => {
      this.pending.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject,
        onProgress,
        onStream: onStream as ((d: unknown) => void) | undefined,
      });
      try {
        this.worker.postMessage({ ...req, id });
      } catch (err) {
        this.pending.delete(id);
        reject(err instanceof Error ? err : new EngineWorkerError(String(err)));
      }
    });
    if (signal) {
      if (signal.aborted) cancel();
      else {
        signal.addEventListener('abort', cancel, { once: true });
        const detach = () => signal.removeEventListener('abort', cancel);
        result.then(detach, detach);
      }
    }
    return result;
  }

  /** Stop the worker; every request still waiting rejects. */
  dispose(): void {
    this.failAll(new EngineWorkerError('The engine worker was shut down.'));
    this.worker.terminate?.();
  }

  private onMessage(data: unknown): void {
    if (!isWorkerMessage(data)) return;
    const msg: WorkerMessage = data;
    const p = this.pending.get(msg.id);
    if (!p) return; // an answer for a request already failed by failAll
    switch (msg.type) {
      case 'progress':
        p.onProgress?.(msg);
        return;
      case 'stream':
        p.onStream?.(msg.data);
        return;
      case 'result':
        this.pending.delete(msg.id);
        p.resolve(msg.value);
        return;
      case 'error':
        this.pending.delete(msg.id);
        p.reject(deserializeError(msg.error));
        return;
    }
  }

  private failAll(err: Error): void {
    this.closedWith = err;
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(err);
  }
}

/** Start the engine worker (Vite bundles it as an ES-module worker) and wrap it. */
export function createEngineClient(): EngineClient {
  const worker = new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module', name: 'sub4-engine' });
  return new EngineClient(worker);
}
