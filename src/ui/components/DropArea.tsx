// Where a model comes in: drop files or a folder, or pick them. For now the
// app only lists what it received; reading the model is the next issue's work.
import { useRef, useState, type DragEvent } from 'react';
import { useAppStore } from '../hooks/useAppStore.ts';
import { filesFromDrop, filesFromInput, type PickedFile } from '../files.ts';
import { formatBytes, formatCount } from '../format.ts';

export function DropArea() {
  const files = useAppStore((s) => s.files);
  const filesReceived = useAppStore((s) => s.filesReceived);
  const [over, setOver] = useState(false);
  const [readError, setReadError] = useState<string | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);

  const receive = (picked: PickedFile[]) => {
    setReadError(null);
    filesReceived(picked.map(({ path, file }) => ({ path, name: file.name, size: file.size })));
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
        <input ref={fileInput} type="file" multiple hidden onChange={(ev) => receive(filesFromInput(ev.target.files))} />
        <input
          ref={folderInput}
          type="file"
          hidden
          // React does not type the non-standard folder attribute; every current browser supports it.
          {...({ webkitdirectory: '' } as Record<string, string>)}
          onChange={(ev) => receive(filesFromInput(ev.target.files))}
        />
      </div>
      {readError && <p className="error-inline">{readError}</p>}
      {files.length > 0 && (
        <>
          <p className="note" data-testid="files-note">
            Received {formatCount(files.length)} file{files.length === 1 ? '' : 's'} ({formatBytes(total)}). Only their names and sizes are
            listed for now: loading a model is not built yet and comes next. Nothing has been read or uploaded.
          </p>
          <table className="files" data-testid="file-list">
            <tbody>
              {files.map((f) => (
                <tr key={f.path}>
                  <td>{f.path}</td>
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
