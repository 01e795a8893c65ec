// The argument types the quantized-linear entry points share with the codebook
// kernels (kernels/qlinear.ts dispatches to kernels/vqlinear.ts, which takes the
// same arguments): here so that neither imports the other's types.
import type { GpuTensor } from '../buffers.ts';

export interface GpuLora {
  a: GpuTensor<'f32'>; // [R, I]
  b: GpuTensor<'f32'>; // [O, R]
  scale: number; // alpha / R
  /**
   * DoRA (src/model/dora.ts): the output is scaled by m/n per output row. Applied
   * by the model's linearForward (src/model/linear.ts) after these kernels,
   * which ignore it.
   */
  dora?: { m: GpuTensor<'f32'>; n: GpuTensor<'f32'> };
}

export interface QLinearOptions {
  /** Record into this encoder (submitted by the caller through pipelines.submit) instead of submitting now. */
  encoder?: GPUCommandEncoder;
  /** Use the f16 forward where it applies (default: when the device has shader-f16); false forces f32. */
  f16?: boolean;
}

export interface QLinearGrads {
  /** dX [T, I]; omitted for the first layer's input. */
  dx?: GpuTensor<'f32'>;
  /** [O, NG] each; both or neither (PEQA). */
  dscale?: GpuTensor<'f32'>;
  doffset?: GpuTensor<'f32'>;
  /** LoRA factor gradients, [R, I] and [O, R]. */
  da?: GpuTensor<'f32'>;
  db?: GpuTensor<'f32'>;
  /** Accumulate into the gradient buffers (micro-batch accumulation) instead of overwriting. */
  accumulate?: boolean;
}
