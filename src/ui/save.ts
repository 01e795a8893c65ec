// The page's side of an export: where the files go, and saving downloads.
// With the File System Access API the page asks for a folder (this must happen
// in the click, a user gesture) and hands its handle to the worker, which
// writes every file into it. Without it (Firefox, Safari) the worker sends each
// complete file as a Blob and the page saves it with an <a download> click, one
// at a time. Cancelling the folder picker cancels the export.
import type { ExportDestination } from '../worker/protocol.ts';

/** Browsers may drop a download started in the same instant as the previous one. */
const DOWNLOAD_GAP_MS = 250;

interface PickerWindow {
  showDirectoryPicker?: (opts?: { id?: string; mode?: 'read' | 'readwrite' }) => Promise<FileSystemDirectoryHandle>;
}

/** True when this browser can write an export into a folder the user picks. */
export function canPickFolder(): boolean {
  return typeof (window as PickerWindow).showDirectoryPicker === 'function';
}

/**
 * Where the export goes: a picked folder, or downloads where folders cannot be
 * picked (or the picker is refused for a reason other than the user's cancel).
 * null: the user cancelled the picker, so nothing is exported.
 */
export async function chooseDestination(): Promise<ExportDestination | null> {
  const pick = (window as PickerWindow).showDirectoryPicker;
  if (typeof pick !== 'function') return { kind: 'download' };
  try {
    return { kind: 'folder', dir: await pick.call(window, { id: 'sub4-export', mode: 'readwrite' }) };
  } catch (e) {
    if ((e as { name?: string }).name === 'AbortError') return null;
    // Blocked by policy (an iframe, a system folder): the files can still be downloaded.
    console.warn(`The folder picker failed (${(e as Error).message}); the export is downloaded instead.`);
    return { kind: 'download' };
  }
}

let urls: string[] = [];
let queue: Promise<void> = Promise.resolve();

/**
 * A saver for one export: each Blob gets an object URL (kept so the panel can
 * offer the file again) and is downloaded after the previous one. The URLs of
 * the export before are released here, so only one export's files are held.
 */
export function startDownloads(): (blob: Blob, name: string) => string {
  for (const u of urls) URL.revokeObjectURL(u);
  urls = [];
  return (blob, name) => {
    const url = URL.createObjectURL(blob);
    urls.push(url);
    queue = queue.then(() => clickDownload(url, name));
    return url;
  };
}

async function clickDownload(url: string, name: string): Promise<void> {
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  await new Promise((r) => setTimeout(r, DOWNLOAD_GAP_MS));
}

/**
 * Download one file outside an export (the importance matrix): queued after any
 * export download, its object URL released once the click has been given.
 */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  queue = queue.then(() => clickDownload(url, name)).finally(() => setTimeout(() => URL.revokeObjectURL(url), 60_000));
}
