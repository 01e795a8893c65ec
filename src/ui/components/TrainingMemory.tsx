// The planner's estimate of the peak GPU memory to fine-tune the model with
// PEQA (scales and offsets) and with LoRA, part by part, with its assumptions.
import type { ModelFacts } from '../../model/facts.ts';
import type { Plan } from '../../model/planner.ts';
import { formatBytes } from '../format.ts';

/** The planner's parts in the words the tables show (the training panel's estimate uses them too). */
export const PARTS: [keyof Plan['parts'], string][] = [
  ['base', 'quantized base (codes, scales, offsets)'],
  ['embeddings', 'embeddings and LM head'],
  ['trainable', 'trainable parameters + gradients'],
  ['optimizer', 'AdamW moments'],
  ['activations', 'activations saved for backward'],
  ['logits', 'logits of one loss chunk'],
  ['workspace', 'backward workspace'],
];

export function TrainingMemory({ memory: t }: { memory: ModelFacts['trainingMemory'] }) {
  return (
    <div data-testid="training-memory">
      <h3>Fine-tuning memory (estimate)</h3>
      <table className="grid">
        <thead>
          <tr>
            <th>Peak GPU memory at seq {t.seq}, batch {t.batch} (fixed settings)</th>
            <th className="num">PEQA</th>
            <th className="num">LoRA</th>
          </tr>
        </thead>
        <tbody>
          {PARTS.map(([key, label]) => (
            <tr key={key}>
              <td>{label}</td>
              <td className="num">{formatBytes(t.peqa.parts[key])}</td>
              <td className="num">{formatBytes(t.lora.parts[key])}</td>
            </tr>
          ))}
          <tr className="total">
            <td>total</td>
            <td className="num" data-testid="memory-peqa">
              {formatBytes(t.peqa.total)}
            </td>
            <td className="num" data-testid="memory-lora">
              {formatBytes(t.lora.total)}
            </td>
          </tr>
        </tbody>
      </table>
      <p className="note">
        Assumes fixed settings, not the Fine-tune panel's: {t.assumes}, seq {t.seq}, batch {t.batch}. The Fine-tune panel estimates its own
        settings the same way. A first-order count by the memory planner, before anything is allocated; it is not a measurement.
      </p>
    </div>
  );
}
