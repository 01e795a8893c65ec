// Where a model comes in: drop files or a folder, or pick them. What arrives
// is listed by name and size and handed to actions.loadModel, which sends the
// File handles to the engine worker; nothing is read on this thread.
import { useRef, useState, type DragEvent } from 'react';
import { loadModel } from '../../state/actions.ts';
import { useAppStore, useServices } from '../hooks/useAppStore.ts';
import { filesFromDrop, filesFromInput, type PickedFile } from '../files.ts';
import { formatBytes, formatCount } from '../format.ts';

export function DropArea() {
  const { client, store } = useServices();
  const files = useAppStore((s) => s.files);
  const ignored = useAppStore((s) => s.model.ignored);
  const [over, setOver] = useState(false);
  const [readError, setReadError] = useState<string | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);

  const receive = (picked: PickedFile[]) => {
    setReadError(null);
    void loadModel(client, store, picked);
  };

  const pick = (input: HTMLInputElement) => {
    receive(filesFromInput(input.files));
    // Cleared so that picking the same file again (after fixing it) fires onChange again.
    input.value = '';
  };

  const onDrop = (ev: DragEvent) => {
    ev.preventDefault();
    setOver(false);
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
      {readError && <p className="error-inline">{readError}</p>}
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
