// LQ-LoRA under a bit budget (`sub4 tune --method lqlora --budget B`): a
// bits-per-weight slider (LoRA factors counted at 16 bits per value); the
// worker measures every linear matrix's candidate types at the run's rank and
// solves for the least total error within the budget. Shown: the plan's size,
// bits per weight and total error (importance-weighted after Calibrate) and a
// row per matrix. Start builds the base by this plan.
import { BUDGET_RANGE, type TrainState } from '../../state/slices/train.ts';
import { formatBytes, formatError } from '../format.ts';
import { runPhaseText } from '../phases.ts';
import { ErrorNote } from './ErrorNote.tsx';

interface Props {
  budget: string;
  plan: TrainState['budget'];
  onBudget(budget: string): void;
}

export function BudgetPlan({ budget, plan, onBudget }: Props) {
  const on = budget.trim() !== '';
  const r = plan.report;
  return (
    <div className="budget" data-testid="budget" data-status={plan.status} data-done={plan.progress?.done ?? ''}>
      <label className="field wide" title="mix quantization types per matrix so the linear layers, LoRA included, fit this many bits per weight">
        <span>
          <input type="checkbox" data-testid="budget-on" checked={on} onChange={(ev) => onBudget(ev.target.checked ? String(BUDGET_RANGE.start) : '')} /> Plan the base by a bit budget
          {on && (
            <>
              : <strong data-testid="budget-value">{Number(budget).toFixed(1)}</strong> bits per weight
            </>
          )}
        </span>
        {on && (
          <input
            type="range"
            data-testid="budget-slider"
            min={BUDGET_RANGE.min}
            max={BUDGET_RANGE.max}
            step={BUDGET_RANGE.step}
            value={budget}
            onChange={(ev) => onBudget(ev.target.value)}
          />
        )}
      </label>
      {on && plan.status === 'planning' && <p className="muted">{runPhaseText(plan.progress)}</p>}
      {on && plan.error && <ErrorNote title="No plan at this budget" error={plan.error} />}
      {on && r && (
        <details className="budget-plan" data-testid="budget-plan" data-bits={r.bits} data-budget={r.budget} data-bytes={r.bytes} data-error={r.error} data-rows={r.rows.length} data-pool-workers={r.pool.workers} data-pool-chunks={r.pool.chunks}>
          <summary>
            Plan: <strong data-testid="budget-size">{formatBytes(r.bytes)}</strong> for {r.weights.toLocaleString('en-US')} linear weights ={' '}
            <strong data-testid="budget-bits">{r.bits.toFixed(3)}</strong> bits per weight; total error <span data-testid="budget-error">{formatError(r.error)}</span>
            {r.imatrix !== null ? ' (importance-weighted)' : ''}
            {r.pool.chunks > 0 ? `; quantized across ${r.pool.workers} workers` : ''}
          </summary>
          <table className="grid" data-testid="budget-table">
            <thead>
              <tr>
                <th>matrix</th>
                <th>type</th>
                <th className="num">rank</th>
                <th className="num">bytes</th>
                <th className="num">error</th>
                <th className="num">rel</th>
              </tr>
            </thead>
            <tbody>
              {r.rows.map((row) => (
                <tr key={row.name}>
                  <td>{row.name}</td>
                  <td>{row.type}</td>
                  <td className="num">{row.rank}</td>
                  <td className="num">{row.bytes.toLocaleString('en-US')}</td>
                  <td className="num">{formatError(row.error)}</td>
                  <td className="num">{formatError(row.rel)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {r.skipped.length > 0 && <p className="note">Not candidates: {r.skipped.join('; ')}</p>}
        </details>
      )}
    </div>
  );
}
