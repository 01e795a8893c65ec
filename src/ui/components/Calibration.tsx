// "Calibrate on this data": the worker collects llama.cpp's importance matrix of
// the loaded model over the dropped data's training windows (progress bar,
// Cancel), then a one-line summary and "Save imatrix" (a .imatrix.gguf that
// llama-quantize --imatrix reads). The matrix stays in the worker for this
// model: it weights the bit-budget plan and LQ-LoRA's quantize / low-rank split.
import type { TrainState } from '../../state/slices/train.ts';
import { formatCount } from '../format.ts';
import { runPhaseText } from '../phases.ts';
import { ErrorNote } from './ErrorNote.tsx';
import { ProgressBar } from './ProgressBar.tsx';

interface Props {
  calibration: TrainState['calibration'];
  /** A model and a dataset with training windows are loaded, and no run goes. */
  enabled: boolean;
  onCalibrate(): void;
  onCancel(): void;
  onSave(): void;
}

export function Calibration({ calibration: c, enabled, onCalibrate, onCancel, onSave }: Props) {
  const running = c.status === 'running';
  const p = c.progress;
  const fraction = p && p.phase === 'calibrating' && p.total > 0 ? p.done / p.total : 0;
  return (
    <div className="calibration" data-testid="calibration" data-status={c.status}>
      <div className="buttons left">
        <button
          type="button"
          data-testid="calibrate"
          disabled={!enabled || running}
          title="collect the importance matrix (llama.cpp's imatrix) of this model over the data's training windows; it weights the bit-budget plan and LQ-LoRA's split"
          onClick={onCalibrate}
        >
          Calibrate on this data
        </button>
        {running && (
          <button type="button" data-testid="calibrate-cancel" onClick={onCancel}>
            Cancel
          </button>
        )}
        {c.report && !running && (
          <button type="button" data-testid="calibration-save" onClick={onSave} title="download the importance matrix as a GGUF imatrix file (llama-quantize --imatrix reads it)">
            Save imatrix
          </button>
        )}
      </div>
      {running && (
        <>
          <ProgressBar fraction={fraction} label="calibration" testId="calibration-progress" />
          <p className="muted">{runPhaseText(p)}</p>
        </>
      )}
      {c.report && (
        <p className="note" data-testid="calibration-summary" data-entries={c.report.entries} data-tokens={c.report.tokens}>
          Importance matrix of {c.report.file}: {formatCount(c.report.entries)} entries over {formatCount(c.report.tokens)} tokens ({c.report.windows} windows of {c.report.windowLength}); it weights
          the bit-budget plan and LQ-LoRA&apos;s split.
        </p>
      )}
      {c.error && <ErrorNote title="Calibration failed" error={c.error} />}
    </div>
  );
}
