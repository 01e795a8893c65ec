// A browser quantizer worker (pool.browser.ts): each message is one job (runQuantizeJob).
import { runQuantizeJob, type QuantizeRequest } from './pool.ts';

const port = self as unknown as { onmessage: ((e: MessageEvent<QuantizeRequest>) => void) | null; postMessage(m: unknown, transfer: Transferable[]): void };
port.onmessage = (e) => {
  const { reply, transfer } = runQuantizeJob(e.data);
  port.postMessage(reply, transfer);
};
