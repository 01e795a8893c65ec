// A trainable tensor with its gradient, and the groups that share a weight
// decay: what the model layer's Trainable hands to an optimizer. Declared here,
// below train/, so the model layer never imports the trainer.
import type { GpuTensor } from '../gpu/buffers.ts';

export interface TrainableParam {
  /** Unique name, shown in events and errors (e.g. 'layers.3.q_proj.lora_a'). */
  name: string;
  param: GpuTensor<'f32'>;
  grad: GpuTensor<'f32'>;
}

/** Parameters sharing a weight decay (0 for quantization scales, as PEQA, and norm weights). */
export interface ParamGroup {
  name: string;
  weightDecay: number;
  params: readonly TrainableParam[];
}
