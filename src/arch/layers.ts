// What differs from layer to layer of one model, derived from its config alone
// so the GPU forward and backward, the KV cache and the f64 references agree:
// whether a layer rotates q/k and with which base (SmolLM3's NoPE layers,
// Gemma 3's local RoPE base), and how far it attends (Gemma 3's interleaved
// sliding and global layers, Mistral's window on every layer).
import type { LlamaConfig } from './config.ts';

/** Whether layer l slides (attends within config.slidingWindow) rather than attending globally. */
export function layerSlides(c: LlamaConfig, l: number): boolean {
  if (c.slidingWindow === null) return false;
  const p = c.slidingPattern;
  return p === undefined || l % p < p - 1;
}

/** The attention window of layer l for the kernels: the span, or 0 for full causal attention. */
export function layerWindow(c: LlamaConfig, l: number): number {
  return layerSlides(c, l) ? c.slidingWindow! : 0;
}

/**
 * Which RoPE table layer l uses: 'global' (ropeTheta with its scaling),
 * 'local' (a sliding layer of a model with ropeThetaLocal: that base, unscaled,
 * as llama.cpp's rope_freq_base_train_swa), or null (a NoPE layer).
 */
export function layerRope(c: LlamaConfig, l: number): 'global' | 'local' | null {
  if (c.noRopeLayers?.includes(l)) return null;
  return c.ropeThetaLocal !== undefined && layerSlides(c, l) ? 'local' : 'global';
}

/** Whether layer l applies RoPE to q and k (false on SmolLM3's NoPE layers). */
export function layerUsesRope(c: LlamaConfig, l: number): boolean {
  return layerRope(c, l) !== null;
}

/**
 * The four quarter points of an L-layer model's depth as residual-stream
 * indices (layers done): ⌈q·L/4⌉ for q = 1..4, rounded up so never the
 * embeddings; with L < 4 some quarters share a layer (DWQ's hidden-state term,
 * src/ref/hidden_l1.ts).
 */
export function quarterLayers(L: number): number[] {
  if (!Number.isInteger(L) || L < 1) throw new RangeError(`quarterLayers: ${L} layers`);
  return [1, 2, 3, 4].map((q) => Math.ceil((q * L) / 4));
}
