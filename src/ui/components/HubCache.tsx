// The browser's Hub cache: each cached repo with its size (and any partial
// download waiting for a resume), a Load button per model it holds (no request
// is made), and Delete per repo or for all. Read from OPFS when shown; nothing
// here touches the network.
import { useEffect } from 'react';
import { deleteHubCache, loadHubModel, refreshHubCache } from '../../state/hub_actions.ts';
import { useAppStore, useServices } from '../hooks/useAppStore.ts';
import { formatBytes } from '../format.ts';
import { ErrorNote } from './ErrorNote.tsx';

export function HubCache() {
  const { client, store } = useServices();
  const cache = useAppStore((s) => s.hub.cache);
  const busy = useAppStore((s) => s.hub.download.status === 'downloading');
  useEffect(() => {
    void refreshHubCache(client, store);
  }, [client, store]);

  return (
    <div data-testid="hub-cache">
      {cache.error && <ErrorNote title="Could not read the cache" error={cache.error} />}
      {/* Empty, it is one line: the first screen has to show the Fine-tune panel at 1280×900. */}
      {cache.repos.length === 0 ? (
        <p className="note" data-testid="hub-cache-empty">
          Cached in this browser: nothing yet.
        </p>
      ) : (
        <>
          <h3>Cached in this browser</h3>
          <table className="files">
            <tbody>
              {cache.repos.map((r) => (
                <tr key={r.repo} data-testid="hub-cache-row">
                  <td>
                    {r.repo}
                    {r.partialBytes > 0 && <span className="muted"> — {formatBytes(r.partialBytes)} partly downloaded</span>}
                    {r.revisions.flatMap((rev) =>
                      rev.choices.map((c) => (
                        <div key={`${rev.revision}/${c.label}`}>
                          <button
                            type="button"
                            disabled={busy}
                            data-testid="hub-cache-load"
                            onClick={() => void loadHubModel(client, store, r.repo, c, rev.revision)}
                          >
                            Load {c.label}
                          </button>
                        </div>
                      )),
                    )}
                  </td>
                  <td className="num">{formatBytes(r.bytes + r.partialBytes)}</td>
                  <td>
                    <button type="button" disabled={busy} data-testid="hub-cache-delete" onClick={() => void deleteHubCache(client, store, r.repo)}>
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="buttons left">
            <button type="button" disabled={busy} data-testid="hub-cache-clear" onClick={() => void deleteHubCache(client, store, null)}>
              Delete all
            </button>
          </div>
        </>
      )}
    </div>
  );
}
