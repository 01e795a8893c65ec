// What differs from layer to layer of one model, derived from its config alone
// so the GPU forward and backward, the KV cache and the f64 references agree:
// whether a layer rotates q/k at all (SmolLM3's NoPE layers).
import type { LlamaConfig } from './config.ts';

/** Whether layer l applies RoPE to q and k (false on SmolLM3's NoPE layers). */
export function layerUsesRope(c: LlamaConfig, l: number): boolean {
  return !c.noRopeLayers?.includes(l);
}

