// CPU reference for the quantized linear layer, f64 accumulation:
// Y[T,O] = X[T,I] · Wᵀ + loraScale · (X·Aᵀ)·Bᵀ with W = scale·q + offset per group.
import { dequantizeQ, type QTensor } from '../quant/qtensor.ts';

export interface LoraRef {
  a: Float32Array; // [R, I]
  b: Float32Array; // [O, R]
  rank: number;
  scale: number; // alpha / rank
}

export function qlinearForwardRef(x: Float32Array, T: number, w: QTensor, lora?: LoraRef): Float64Array {
  const { rows: O, cols: I } = w;
  if (x.length !== T * I) throw new RangeError(`qlinearForwardRef: X has ${x.length} values, expected ${T}×${I}`);
  const wd = dequantizeQ(w);
  const y = new Float64Array(T * O);
  const R = lora?.rank ?? 0;
  const xa = new Float64Array(T * R);
  if (lora)
    for (let t = 0; t < T; t++)
      for (let r = 0; r < R; r++) {
        let s = 0;
        for (let k = 0; k < I; k++) s += x[t * I + k] * lora.a[r * I + k];
        xa[t * R + r] = s;
      }
  for (let t = 0; t < T; t++)
    for (let o = 0; o < O; o++) {
      let s = 0;
      for (let k = 0; k < I; k++) s += x[t * I + k] * wd[o * I + k];
      if (lora) {
        let l = 0;
        for (let r = 0; r < R; r++) l += xa[t * R + r] * lora.b[o * R + r];
        s += lora.scale * l;
      }
      y[t * O + o] = s;
    }
  return y;
}
