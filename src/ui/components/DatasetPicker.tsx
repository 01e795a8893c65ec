// The training data: drop or pick one file (.txt, JSONL, JSON array); the
// worker reads it with the model's tokenizer and the report comes back: format,
// counts, the first rows with the tokens in the loss marked, and problems by
// line (by record in a JSON array). Nothing is read on this thread.
import { useRef, useState, type DragEvent } from 'react';
import { filePicker, noteDataHandle } from '../../state/run_files.ts';
import type { TrainState } from '../../state/slices/train.ts';
import type { PreviewSegment } from '../../train/data/index.ts';
import { formatBytes, formatCount } from '../format.ts';
import { runPhaseText } from '../phases.ts';
import { ErrorNote } from './ErrorNote.tsx';

const MAX_PROBLEMS_SHOWN = 8;
/**
 * Context (a system prompt, the user turn, Alpaca's preamble) can fill a preview
 * row before the reply starts, and the reply is what trains. A context run longer
 * than HEAD + TAIL characters shows its start and its end (the assistant header)
 * only, so the in-loss text below it stays in view.
 */
const CONTEXT_HEAD = 60;
const CONTEXT_TAIL = 80;

function Segment({ g, elide }: { g: PreviewSegment; elide: boolean }) {
  if (g.loss) return <span className="in-loss">{g.text}</span>;
  const cut = g.text.length - CONTEXT_HEAD - CONTEXT_TAIL;
  if (!elide || cut < 20) return <span className="no-loss">{g.text}</span>;
  return (
    <span className="no-loss">
      {g.text.slice(0, CONTEXT_HEAD)}
      <span className="elided" title="context not shown in the preview (it is read by the model, not trained on)">
        [… {formatCount(cut)} characters …]
      </span>
      {g.text.slice(-CONTEXT_TAIL)}
    </span>
  );
}

function Report({ data }: { data: TrainState['data'] }) {
  const r = data.report;
  if (!r) return null;
  const c = r.counts;
  return (
    <div className="data-report">
      <p className="note" data-testid="train-data-counts" data-train-windows={c.trainWindows} data-tokens={c.tokens} data-without-loss={c.windowsWithoutLoss}>
        {/* A .txt file is one document cut in two (training text, held-out text): "2 examples" would miscount it. */}
        {r.source === 'txt' ? (
          <>plain text: one document, its last part held out; </>
        ) : (
          <>
            {r.detail} ({r.source}): {formatCount(c.examples)} example{c.examples === 1 ? '' : 's'},{' '}
          </>
        )}
        {formatCount(c.tokens)} tokens ({formatCount(c.lossTokens)} in the loss) →{' '}
        <strong>{formatCount(c.trainWindows)}</strong> training and {formatCount(c.evalWindows)} held-out windows of {r.seqLen} tokens
        {c.rowsLeftOut > 0 && <>; {formatCount(c.rowsLeftOut)} rows left out</>}
        {c.windowsWithoutLoss > 0 && (
          <>
            ; {formatCount(c.windowsWithoutLoss)} window{c.windowsWithoutLoss === 1 ? '' : 's'} skipped with no token in the loss (parts of prompts longer than {r.seqLen} tokens)
          </>
        )}
        .
      </p>
      {c.trainWindows === 0 && <p className="error-inline">No training window: use a shorter seq len or more data.</p>}
      <p className="note legend" data-testid="train-data-legend">
        <span className="in-loss">green = in the loss</span>: the tokens the run trains the model to write.{' '}
        <span className="no-loss">Grey</span> = context it reads but is not trained on{r.kind !== 'text' && <>; long context is cut short in the preview</>}.
      </p>
      <div className="preview" data-testid="train-data-preview">
        {r.preview.map((row) => (
          <div key={`${row.line}:${row.index}`} className="preview-row">
            <span className="muted mono">
              {row.place} · {formatCount(row.tokens)} tokens
            </span>
            <pre>
              {row.segments.map((g, i) => (
                <Segment key={i} g={g} elide={row.lossTokens > 0} />
              ))}
              {row.truncated && <span className="muted">…</span>}
            </pre>
          </div>
        ))}
      </div>
      {r.problemCount > 0 && (
        <ul className="problems" data-testid="train-data-problems">
          {r.problems.slice(0, MAX_PROBLEMS_SHOWN).map((p, i) => (
            <li key={i}>
              <span className="mono">{p.place}</span> {p.kept ? '(kept)' : '(left out)'}: {p.message}
            </li>
          ))}
          {r.problemCount > MAX_PROBLEMS_SHOWN && <li className="muted">… and {formatCount(r.problemCount - MAX_PROBLEMS_SHOWN)} more</li>}
        </ul>
      )}
      {r.notes.map((n, i) => (
        <p key={i} className="note">
          {n}
        </p>
      ))}
    </div>
  );
}

interface Props {
  data: TrainState['data'];
  enabled: boolean;
  file: File | null;
  onFile(f: File): void;
  plainChat: boolean;
  onPlainChat(on: boolean): void;
}

export function DatasetPicker({ data, enabled, file, onFile, plainChat, onPlainChat }: Props) {
  const [over, setOver] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  // As the model's drop area: a file opened through the browser's picker keeps its handle for Resume after a reload.
  const picker = filePicker();
  const openWithHandle = async () => {
    try {
      const [h] = await picker!({ id: 'sub4-data' });
      const f = await h.getFile();
      noteDataHandle(h);
      onFile(f);
    } catch (e) {
      if ((e as { name?: string }).name !== 'AbortError') console.error(e);
    }
  };

  const onDrop = (ev: DragEvent) => {
    ev.preventDefault();
    setOver(false);
    // One file; a dropped folder arrives as a 0-byte entry without a File of its own, so only files count.
    const dropped = Array.from(ev.dataTransfer.items, (it) => (it.kind === 'file' && it.webkitGetAsEntry?.()?.isDirectory !== true ? it.getAsFile() : null)).find(Boolean);
    if (enabled && dropped) {
      noteDataHandle(null);
      onFile(dropped);
    }
  };

  return (
    // data-req / data-status: which read is shown and where it is (tests wait on them).
    <div data-testid="train-data" data-req={data.reqId} data-status={data.status}>
      <div
        className={over && enabled ? 'drop small over' : 'drop small'}
        onDragOver={(ev) => {
          ev.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
        data-testid="train-data-drop"
      >
        <p>
          {file ? (
            <>
              <span className="mono" data-testid="train-data-file">
                {file.name}
              </span>{' '}
              ({formatBytes(file.size)})
            </>
          ) : (
            'Drop training data here: plain text (.txt), JSON Lines or a JSON array (instructions, chats, text rows).'
          )}
        </p>
        <button type="button" disabled={!enabled} onClick={() => input.current?.click()}>
          {file ? 'Choose another…' : 'Choose a data file…'}
        </button>
        {picker && (
          <button type="button" disabled={!enabled} data-testid="open-train-data" title="a file opened here is remembered, so a saved run resumes after a reload without choosing it again" onClick={() => void openWithHandle()}>
            Open (remembered)…
          </button>
        )}
        <input
          ref={input}
          type="file"
          accept=".txt,.jsonl,.ndjson,.json,text/plain,application/json"
          hidden
          data-testid="pick-train-data"
          onChange={(ev) => {
            const f = ev.target.files?.[0];
            if (f) {
              noteDataHandle(null);
              onFile(f);
            }
            ev.target.value = '';
          }}
        />
      </div>
      <label className="check" title="for chat data on a base model: without a chat template, chats are refused unless this is on">
        <input type="checkbox" checked={plainChat} disabled={!enabled} data-testid="train-plain-chat" onChange={(ev) => onPlainChat(ev.target.checked)} />
        Plain User:/Assistant: chats (when the model has no chat template)
      </label>
      {data.status === 'reading' && <p className="muted">{runPhaseText(data.progress)}</p>}
      {data.error &&
        (data.error.field ? (
          // A setting the read needs (seq len, seed) is out of range: the file is not at fault, and the field says why.
          <p className="muted" data-testid="train-data-waiting">
            The data is read again once the {data.error.field} setting is valid.
          </p>
        ) : (
          <ErrorNote title={`Could not read ${data.name ?? 'the data'}`} error={data.error} />
        ))}
      <Report data={data} />
    </div>
  );
}
