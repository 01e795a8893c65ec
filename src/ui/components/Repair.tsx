// "Repair quantization (no labels needed)": the training panel's toggle for
// distillation (src/worker/repair.ts). On, the run's loss is KL(teacher ‖
// student) on the data's tokens, so any text will do. The teacher is this tab's
// float model when the student is quantized here from it (no second file), or
// a teacher file dropped or picked like the model (a float .gguf or HF folder,
// or Q8_0), which the worker checks against the loaded model: a teacher with
// another vocabulary is refused, naming both. How the teacher runs (the
// planner's choice) is the plan's note, shown here.
import { useRef, useState, type DragEvent } from 'react';
import type { TrainForm, TrainState } from '../../state/slices/train.ts';
import { filesFromDrop, filesFromInput, type PickedFile } from '../files.ts';
import { formatBytes, formatCount } from '../format.ts';
import { runPhaseText } from '../phases.ts';
import { ErrorNote } from './ErrorNote.tsx';

interface Props {
  form: Pick<TrainForm, 'repair' | 'teacher'>;
  teacher: TrainState['teacher'];
  /** Why this tab's model cannot be the teacher (a quantized file, or no --bits), else null. */
  selfRefused: string | null;
  /** The plan's note on how the teacher runs (live, and why), when planned. */
  modeNote: string | null;
  onChange(patch: Partial<TrainForm>): void;
  onTeacherFiles(files: PickedFile[]): void;
}

function TeacherFile({ teacher: t, onFiles }: { teacher: TrainState['teacher']; onFiles(files: PickedFile[]): void }) {
  const [over, setOver] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const pick = (input: HTMLInputElement) => {
    onFiles(filesFromInput(input.files));
    input.value = ''; // picking the same file again fires onChange again
  };
  const drop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    void filesFromDrop(e.dataTransfer).then(onFiles);
  };
  return (
    <div className="teacher-file" data-testid="teacher" data-status={t.status}>
      <div
        className={`drop small${over ? ' over' : ''}`}
        data-testid="teacher-drop"
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={drop}
      >
        <p className="muted">Drop the unquantized teacher here: a .gguf (F32, F16, BF16 or Q8_0) or a Hugging Face folder.</p>
        <div className="buttons left">
          <button type="button" onClick={() => fileInput.current?.click()}>
            Choose .gguf…
          </button>
          <button type="button" onClick={() => folderInput.current?.click()}>
            Choose folder…
          </button>
        </div>
        <input ref={fileInput} type="file" accept=".gguf" hidden data-testid="teacher-pick" onChange={(e) => pick(e.currentTarget)} />
        <input ref={folderInput} type="file" hidden data-testid="teacher-pick-folder" {...{ webkitdirectory: '' }} onChange={(e) => pick(e.currentTarget)} />
      </div>
      {t.status === 'loading' && <p className="muted">{t.progress ? runPhaseText(t.progress) : 'opening the teacher…'}</p>}
      {t.report && (
        <p className="note" data-testid="teacher-summary" data-name={t.report.name}>
          Teacher {t.report.name}: {t.report.types.join(', ')}, {formatCount(t.report.vocab)} tokens in its vocabulary (the student&apos;s), {formatBytes(t.report.bytes)}.
        </p>
      )}
      {t.error && <ErrorNote title="This teacher cannot repair this model" error={t.error} />}
    </div>
  );
}

export function Repair({ form, teacher, selfRefused, modeNote, onChange, onTeacherFiles }: Props) {
  return (
    <div className="repair" data-testid="repair" data-on={form.repair} data-teacher={form.teacher}>
      <label className="check">
        <input type="checkbox" data-testid="repair-on" checked={form.repair} onChange={(e) => onChange({ repair: e.currentTarget.checked })} />
        Repair quantization (no labels needed)
      </label>
      {form.repair && (
        <>
          <p className="note">
            The quantized model learns to give the next-token probabilities its unquantized teacher gives (KL to the teacher, over the whole vocabulary), on any
            text: the data&apos;s labels are not used.
          </p>
          <fieldset className="choices">
            <legend>Teacher</legend>
            <label className="check" title={selfRefused ?? undefined}>
              <input
                type="radio"
                name="repair-teacher"
                data-testid="repair-teacher-self"
                checked={form.teacher === 'self'}
                disabled={selfRefused !== null && form.teacher !== 'self'}
                onChange={() => onChange({ teacher: 'self' })}
              />
              This tab&apos;s float model (the student is quantized from it here)
            </label>
            <label className="check">
              <input type="radio" name="repair-teacher" data-testid="repair-teacher-file" checked={form.teacher === 'file'} onChange={() => onChange({ teacher: 'file' })} />A teacher
              file
            </label>
          </fieldset>
          {form.teacher === 'self' && selfRefused && <p className="note bad-text">{selfRefused}</p>}
          {form.teacher === 'file' && <TeacherFile teacher={teacher} onFiles={onTeacherFiles} />}
          {modeNote && (
            <p className="note" data-testid="repair-mode">
              {modeNote}
            </p>
          )}
        </>
      )}
    </div>
  );
}
