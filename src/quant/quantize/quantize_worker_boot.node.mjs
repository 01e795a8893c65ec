// Entry of a Node quantizer worker (pool.node.ts): tsx's loader, then the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./quantize_worker.node.ts');
