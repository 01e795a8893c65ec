// Models from the Hugging Face Hub: a repo id, List (the only action that asks
// the Hub anything, with Load), the models the repo offers (each GGUF variant,
// the safetensors set; "cached" when every file is already in the browser), and
// a progress bar while a choice downloads. Settings: the endpoint, and a token
// for gated or private repos, kept in memory unless "remember" is ticked.
import { listHubRepo, loadHubModel, stopHubDownload } from '../../state/hub_actions.ts';
import { useAppStore, useServices } from '../hooks/useAppStore.ts';
import { formatBytes } from '../format.ts';
import { ErrorNote } from './ErrorNote.tsx';
import { ProgressBar } from './ProgressBar.tsx';
import { HubCache } from './HubCache.tsx';

export function HubPanel() {
  const { client, store } = useServices();
  const settings = useAppStore((s) => s.hub.settings);
  const listing = useAppStore((s) => s.hub.listing);
  const download = useAppStore((s) => s.hub.download);
  const change = store.getState().hubSettingsChanged;
  const busy = download.status === 'downloading';

  return (
    <section className="panel" data-testid="hub-panel">
      <h2>From the Hugging Face Hub</h2>
      <form
        className="hub-form"
        onSubmit={(ev) => {
          ev.preventDefault();
          void listHubRepo(client, store);
        }}
      >
        <input
          className="hub-repo"
          placeholder="owner/name, e.g. HuggingFaceTB/SmolLM2-135M-Instruct"
          aria-label="Hub repo id"
          value={settings.repo}
          data-testid="hub-repo"
          onChange={(ev) => change({ repo: ev.target.value })}
        />
        <button type="submit" disabled={!settings.repo.trim() || listing.status === 'listing'} data-testid="hub-list">
          List files
        </button>
      </form>
      <details className="hub-settings">
        <summary>Hub settings (endpoint, access token)</summary>
        <label className="field">
          <span>Endpoint</span>
          <input value={settings.endpoint} data-testid="hub-endpoint" onChange={(ev) => change({ endpoint: ev.target.value })} />
        </label>
        <label className="field">
          <span>Access token (for gated or private repos)</span>
          <input
            type="password"
            autoComplete="off"
            placeholder="hf_…"
            value={settings.token}
            data-testid="hub-token"
            onChange={(ev) => change({ token: ev.target.value })}
          />
        </label>
        <label className="check">
          <input
            type="checkbox"
            checked={settings.rememberToken}
            data-testid="hub-remember-token"
            onChange={(ev) => change({ rememberToken: ev.target.checked })}
          />{' '}
          Remember the token in this browser (otherwise it is forgotten when the tab closes)
        </label>
      </details>

      {listing.status === 'listing' && <p className="note">Listing {settings.repo}…</p>}
      {listing.status === 'error' && listing.error && (
        <div data-testid="hub-list-error">
          <ErrorNote title="Could not list the repo" error={listing.error} />
        </div>
      )}
      {listing.status === 'ready' && listing.result && (
        <div data-testid="hub-listing">
          <p className="note">
            {listing.result.repo}: {listing.result.files.length} files.{' '}
            {listing.result.choices.length === 0 && 'No .gguf file and no config.json with safetensors: nothing sub4 can load.'}
          </p>
          <table className="files">
            <tbody>
              {listing.result.choices.map((c, i) => (
                <tr key={c.label}>
                  <td>
                    {c.label}
                    {c.cached && <span className="muted"> — cached</span>}
                  </td>
                  <td className="num">{formatBytes(c.bytes)}</td>
                  <td>
                    <button
                      type="button"
                      disabled={busy}
                      data-testid={`hub-choice-${i}`}
                      onClick={() => void loadHubModel(client, store, listing.result!.repo, c, listing.result!.revision)}
                    >
                      {c.cached ? 'Load' : 'Download and load'}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      {download.status !== 'idle' && (
        <div className="run" data-testid="hub-download">
          <p>
            {download.label}
            {download.phase && download.status === 'downloading' && <span className="muted"> — {download.phase}</span>}
          </p>
          <ProgressBar
            fraction={download.status === 'done' ? 1 : download.total > 0 ? download.done / download.total : 0}
            label="download"
            testId="hub-progress"
          />
          {busy && (
            <div className="buttons left">
              <button type="button" data-testid="hub-stop" onClick={() => stopHubDownload(store)}>
                Stop (what arrived is kept)
              </button>
            </div>
          )}
          {download.status === 'done' && download.result && (
            <p className="note" data-testid="hub-download-note">
              {download.result.downloaded.length > 0 ? `Downloaded ${download.result.downloaded.length} file(s)` : 'Nothing downloaded'}
              {download.result.fromCache.length > 0 && `; ${download.result.fromCache.length} from the browser's cache (no request)`}.
            </p>
          )}
          {download.status === 'error' && download.error && (
            <div data-testid="hub-download-error">
              <ErrorNote title="Download stopped" error={download.error} />
            </div>
          )}
        </div>
      )}
      <HubCache />
    </section>
  );
}
