// The memory planner's estimate for the settings as they stand, before Start:
// the peak GPU bytes part by part (the model card's table, for one run), and
// a refusal in plain words when a buffer cannot fit the device.
import type { TrainState } from '../../state/slices/train.ts';
import { formatBytes } from '../format.ts';
import { ErrorNote } from './ErrorNote.tsx';
import { PARTS } from './TrainingMemory.tsx';

export function TrainPlan({ plan }: { plan: TrainState['plan'] }) {
  if (plan.error) return <ErrorNote title="These settings cannot train this model" error={plan.error} />;
  const p = plan.report;
  if (!p) return plan.status === 'planning' ? <p className="muted">estimating memory…</p> : null;
  return (
    <details className="train-plan" data-testid="train-plan">
      <summary>
        Peak GPU memory (estimate):{' '}
        <strong data-testid="train-plan-total" data-value={p.total}>
          {formatBytes(p.total)}
        </strong>
        {p.refused ? <span className="bad-text"> — does not fit</span> : null}
      </summary>
      <table className="grid">
        <tbody>
          {PARTS.map(([key, label]) => (
            <tr key={key}>
              <td>{label}</td>
              <td className="num">{formatBytes(p.parts[key])}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="note">
        Largest buffer: {p.largest.name} ({formatBytes(p.largest.bytes)}). A first-order count by the memory planner, before anything is allocated.
      </p>
      {p.notes.map((n, i) => (
        <p key={i} className="note">
          {n}
        </p>
      ))}
      {p.refused && <p className="error-inline">{p.refused}</p>}
    </details>
  );
}
