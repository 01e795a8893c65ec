// Where a model comes in: drop files or a folder, or pick them. What arrives
// goes to actions.dropModelFiles, which has the worker check it is a model
// before anything changes (a refused drop is said here and nothing else moves),
// asks before a load would stop a training run, then loads it; the files are
// listed by name and size. Nothing is read on this thread.
import { useRef, useState, type DragEvent } from 'react';
import { cancelModelDrop, confirmModelDrop, dropModelFiles } from '../../state/actions.ts';
import { filePicker, noteModelHandle } from '../../state/run_files.ts';
import { useAppStore, useServices } from '../hooks/useAppStore.ts';
import { filesFromDrop, filesFromInput, type PickedFile } from '../files.ts';
import { formatBytes, formatCount } from '../format.ts';
import { DemoButton } from './DemoButton.tsx';
import { ErrorNote } from './ErrorNote.tsx';

export function DropArea() {
  const { client, store } = useServices();
  const files = useAppStore((s) => s.files);
  const ignored = useAppStore((s) => s.model.ignored);
  const drop = useAppStore((s) => s.modelDrop);
  const modelReady = useAppStore((s) => s.model.status === 'ready');
  const [over, setOver] = useState(false);
  const [readError, setReadError] = useState<string | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);

  const receive = (picked: PickedFile[]) => {
    setReadError(null);
    void dropModelFiles(client, store, picked);
  };

  // A file opened through the browser's picker comes with a handle, kept for Resume after a reload
  // (state/run_files.ts); files picked or dropped otherwise have none.
  const picker = filePicker();
  const openWithHandle = async () => {
    try {
      const [h] = await picker!({ id: 'sub4-model', types: [{ description: 'GGUF model', accept: { 'application/octet-stream': ['.gguf'] } }] });
      const file = await h.getFile();
      noteModelHandle(h);
      receive([{ path: file.name, file }]);
    } catch (e) {
      if ((e as { name?: string }).name !== 'AbortError') setReadError(`The file could not be opened: ${(e as Error).message}`);
    }
  };

  const pick = (input: HTMLInputElement) => {
    noteModelHandle(null);
    receive(filesFromInput(input.files));
    // Cleared so that picking the same file again (after fixing it) fires onChange again.
    input.value = '';
  };

  const onDrop = (ev: DragEvent) => {
    ev.preventDefault();
    setOver(false);
    noteModelHandle(null);
    filesFromDrop(ev.dataTransfer).then(receive, (err: unknown) =>
      setReadError(`The browser could not list the dropped files: ${err instanceof Error ? err.message : String(err)}`),
    );
  };

  const total = files.reduce((n, f) => n + f.size, 0);
  return (
    <section className="panel">
      <h2>Model files</h2>
      <div
        className={over ? 'drop over' : 'drop'}
        data-testid="model-drop"
        onDragOver={(ev) => {
          ev.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        <p>Drop a model folder or its files here (safetensors + config.json + tokenizer.json, or a .gguf file).</p>
        <div className="buttons">
          <button type="button" onClick={() => fileInput.current?.click()}>
            Choose files…
          </button>
          <button type="button" onClick={() => folderInput.current?.click()}>
            Choose a folder…
          </button>
          {picker && (
            <button type="button" data-testid="open-model-file" title="a .gguf file opened here is remembered, so a saved run resumes after a reload without choosing it again" onClick={() => void openWithHandle()}>
              Open a .gguf (remembered)…
            </button>
          )}
        </div>
        <input ref={fileInput} type="file" multiple hidden data-testid="pick-files" onChange={(ev) => pick(ev.target)} />
        <input
          ref={folderInput}
          type="file"
          hidden
          data-testid="pick-folder"
          // React does not type the non-standard folder attribute; every current browser supports it.
          {...({ webkitdirectory: '' } as Record<string, string>)}
          onChange={(ev) => pick(ev.target)}
        />
      </div>
      <DemoButton />
      {readError && <p className="error-inline">{readError}</p>}
      {drop.status === 'rejected' && drop.error && (
        <div data-testid="drop-rejected">
          <ErrorNote title={`Not loaded: ${drop.label ?? 'the drop'} is not a model${modelReady ? '; the model loaded stays' : ''}`} error={drop.error} />
        </div>
      )}
      {drop.status === 'confirm' && (
        <div className="confirm" role="alertdialog" aria-label="stop the training run?" data-testid="drop-confirm">
          <p>
            A training run is going on the model loaded now. Loading {drop.label} stops the run after its current step, and what it trained goes
            with the current model (export it first to keep it).
          </p>
          <div className="buttons left">
            <button type="button" className="primary" data-testid="drop-confirm-load" onClick={() => void confirmModelDrop(client, store)}>
              Stop the run and load
            </button>
            <button type="button" data-testid="drop-confirm-cancel" onClick={() => cancelModelDrop(store)}>
              Keep training
            </button>
          </div>
        </div>
      )}
      {files.length > 0 && (
        <>
          <p className="note" data-testid="files-note">
            Received {formatCount(files.length)} file{files.length === 1 ? '' : 's'} ({formatBytes(total)}). The engine reads them in the
            background, a slice at a time; nothing is uploaded.
          </p>
          <table className="files" data-testid="file-list">
            <tbody>
              {files.map((f) => (
                <tr key={f.path}>
                  <td>
                    {f.path}
                    {ignored.includes(f.path) && <span className="muted"> — not part of the model</span>}
                  </td>
                  <td className="num">{formatBytes(f.size)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
