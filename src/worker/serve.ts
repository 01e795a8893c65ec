// The engine's message loop, apart from the worker global so it can be driven
// over any MessagePort-like pair (a Worker's `self`, or a MessageChannel in
// Node tests): read numbered requests, run the handler, post events back.
// Requests run concurrently (a cancel must get through while a generate runs),
// each with an AbortController that a `cancel` request naming it aborts.
import { handlers as defaultHandlers } from './handlers.ts';
import { type HandledRequest, type HandlerEnv, type HandlerIO, type HandlerTable } from './handler_env.ts';
import { serializeError, type RequestMessage, type RequestType, type WorkerMessage } from './protocol.ts';

/** The abort reason a handler sees when the page cancels its request. */
export const CANCEL_REASON = 'cancelled by the page';

/** The worker side of the channel: `self` in a worker, a MessagePort in tests. */
export interface EnginePort {
  postMessage(msg: unknown): void;
  addEventListener(type: 'message', fn: (ev: MessageEvent) => void): void;
}

export function serve(port: EnginePort, env: HandlerEnv, table: HandlerTable = defaultHandlers): void {
  const post = (msg: WorkerMessage) => port.postMessage(msg);
  const running = new Map<number, AbortController>();

  function cancel(msg: RequestMessage<'cancel'>): void {
    const target = running.get(msg.target);
    target?.abort(CANCEL_REASON);
    post({ type: 'result', id: msg.id, value: { cancelled: target !== undefined } });
  }

  async function handle<K extends HandledRequest>(msg: RequestMessage<K>): Promise<void> {
    const { id } = msg;
    const abort = new AbortController();
    running.set(id, abort);
    const io: HandlerIO<K> = {
      progress: (phase, done, total) => post({ type: 'progress', id, phase, done, total }),
      stream: (data) => post({ type: 'stream', id, data }),
      signal: abort.signal,
    };
    try {
      const handler = Object.hasOwn(table, msg.type) ? table[msg.type as K] : undefined;
      if (!handler) throw new TypeError(`The engine has no request named "${String(msg.type)}".`);
      const value = await handler(msg, io, env);
      post({ type: 'result', id, value });
    } catch (err) {
      post({ type: 'error', id, error: serializeError(err) });
    } finally {
      running.delete(id);
    }
  }

  port.addEventListener('message', (ev) => {
    const msg = ev.data as RequestMessage | null;
    if (typeof msg !== 'object' || msg === null || typeof msg.id !== 'number') {
      console.error('engine: ignored a message without a numeric id', msg);
      return;
    }
    if ((msg.type as RequestType) === 'cancel') cancel(msg as RequestMessage<'cancel'>);
    else void handle(msg as RequestMessage<HandledRequest>);
  });
}
