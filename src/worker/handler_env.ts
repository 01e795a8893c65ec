// What a request handler is given and returns: the shapes every handler module
// and the dispatch table (handlers.ts) share. Their own file, so handler modules
// import these types without importing the table that imports them.
import type { GpuContext } from '../gpu/device.ts';
import type { ModelSlot } from './model_slot.ts';
import type { EngineRequest, EngineResults, EngineStreams, RequestType } from './protocol.ts';

/** How a handler reports back while it runs, and learns that it should stop. */
export interface HandlerIO<K extends RequestType> {
  progress(phase: string, done: number, total: number): void;
  stream(data: EngineStreams[K]): void;
  /** Aborts when the page sends `cancel` for this request; long handlers check it between steps. */
  signal: AbortSignal;
}

export interface HandlerEnv {
  /** The worker's one GPU context, created on first use. */
  getContext(onProgress?: (phase: string, done: number, total: number) => void): Promise<GpuContext>;
  /** The engine's current model, replaced by each load-model request. */
  models: ModelSlot;
}

export type Handler<K extends RequestType> = (req: EngineRequest<K>, io: HandlerIO<K>, env: HandlerEnv) => Promise<EngineResults[K]>;

/** Requests serve.ts answers itself, because they act on other requests. */
export type LoopRequest = 'cancel';

export type HandledRequest = Exclude<RequestType, LoopRequest>;

export type HandlerTable = { [K in HandledRequest]: Handler<K> };
