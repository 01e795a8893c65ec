// One Dawn device per test file. The context object keeps Dawn's create()
// result referenced (see src/gpu/node.ts), so it must stay in scope.
import { afterAll } from 'vitest';
import { createNodeGpuContext, type NodeGpuContext } from '../../src/gpu/node.ts';

let ctx: Promise<NodeGpuContext> | undefined;
export function gpu(): Promise<NodeGpuContext> {
  if (!ctx) {
    ctx = createNodeGpuContext();
    afterAll(async () => (await ctx!).destroy());
  }
  return ctx;
}
