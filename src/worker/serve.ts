// The engine's message loop, apart from the worker global so it can be driven
// over any MessagePort-like pair (a Worker's `self`, or a MessageChannel in
// Node tests): read numbered requests, run the handler, post events back.
import { handlers as defaultHandlers, type HandlerEnv, type HandlerIO, type HandlerTable } from './handlers.ts';
import { serializeError, type RequestMessage, type RequestType, type WorkerMessage } from './protocol.ts';

/** The worker side of the channel: `self` in a worker, a MessagePort in tests. */
export interface EnginePort {
  postMessage(msg: unknown): void;
  addEventListener(type: 'message', fn: (ev: MessageEvent) => void): void;
}

export function serve(port: EnginePort, env: HandlerEnv, table: HandlerTable = defaultHandlers): void {
  const post = (msg: WorkerMessage) => port.postMessage(msg);

  async function handle<K extends RequestType>(msg: RequestMessage<K>): Promise<void> {
    const { id } = msg;
    const io: HandlerIO<K> = {
      progress: (phase, done, total) => post({ type: 'progress', id, phase, done, total }),
      stream: (data) => post({ type: 'stream', id, data }),
    };
    try {
      const handler = Object.hasOwn(table, msg.type) ? table[msg.type as K] : undefined;
      if (!handler) throw new TypeError(`The engine has no request named "${String(msg.type)}".`);
      const value = await handler(msg, io, env);
      post({ type: 'result', id, value });
    } catch (err) {
      post({ type: 'error', id, error: serializeError(err) });
    }
  }

  port.addEventListener('message', (ev) => {
    const msg = ev.data as RequestMessage | null;
    if (typeof msg !== 'object' || msg === null || typeof msg.id !== 'number') {
      console.error('engine: ignored a message without a numeric id', msg);
      return;
    }
    void handle(msg);
  });
}
