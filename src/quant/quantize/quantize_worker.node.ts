// A Node quantizer worker (pool.node.ts): each message is one job (runQuantizeJob).
import { parentPort } from 'node:worker_threads';
import { runQuantizeJob, type QuantizeRequest } from './pool.ts';

parentPort!.on('message', (req: QuantizeRequest) => {
  const { reply, transfer } = runQuantizeJob(req);
  parentPort!.postMessage(reply, transfer);
});
