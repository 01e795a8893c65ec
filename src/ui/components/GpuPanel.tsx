// GPU panel: which adapter the engine worker got, what it was granted, and the
// self-test. Everything here comes from the store; no GPU calls in the UI.
import { useAppStore } from '../hooks/useAppStore.ts';
import { formatBytes, formatCount } from '../format.ts';
import { ErrorNote } from './ErrorNote.tsx';
import { SelfTest } from './SelfTest.tsx';

/** Limits that are byte sizes read better in KiB/MiB/GiB. */
const BYTE_LIMITS = new Set(['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxUniformBufferBindingSize']);

function yesNo(v: boolean | undefined, pending: string) {
  return v === undefined ? pending : v ? 'yes' : 'no';
}

export function GpuPanel() {
  const gpu = useAppStore((s) => s.gpu);
  const a = gpu.adapter;
  // '…' while the worker is still answering; a dash once it has failed, so nothing looks like it is loading.
  const pending = gpu.status === 'error' ? '—' : '…';
  return (
    <section className="panel" data-testid="gpu-panel">
      <h2>GPU</h2>
      {gpu.error && <ErrorNote title={a ? 'The self-test could not run' : 'No GPU is available to sub4'} error={gpu.error} />}
      <table className="kv">
        <tbody>
          <tr>
            <th>Adapter</th>
            <td data-testid="adapter-name">{a ? [a.vendor, a.architecture].filter(Boolean).join(' / ') || 'unnamed adapter' : ''}</td>
          </tr>
          <tr>
            <th>Software emulation</th>
            <td>{a ? (a.isSoftware ? 'yes — a CPU stands in for the GPU, so everything is slow' : 'no — a hardware GPU') : pending}</td>
          </tr>
        </tbody>
      </table>
      {/* Folded with the limits below: the first screen at 1280×900 has to reach the Fine-tune panel. */}
      <details className="limits-details" data-testid="gpu-details">
        <summary>Adapter details</summary>
        <table className="kv">
          <tbody>
            <tr>
              <th>Description</th>
              <td>{a ? a.description || a.device || 'not reported by this browser' : pending}</td>
            </tr>
            <tr>
              <th>shader-f16</th>
              <td>{yesNo(gpu.features?.f16, pending)}</td>
            </tr>
            <tr>
              <th>subgroups</th>
              <td>{yesNo(gpu.features?.subgroups, pending)}</td>
            </tr>
          </tbody>
        </table>
      </details>
      <SelfTest gpu={gpu} />
      {/* Collapsed: thirty rows of limits would push the Fine-tune panel below the fold, and few readers need them. */}
      {gpu.limits && (
        <details className="limits-details" data-testid="gpu-limits">
          <summary>Granted limits ({Object.keys(gpu.limits).length})</summary>
          <table className="limits">
            <tbody>
              {Object.entries(gpu.limits).map(([name, v]) => (
                <tr key={name}>
                  <td>{name}</td>
                  <td className="num">{BYTE_LIMITS.has(name) ? formatBytes(v) : formatCount(v)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </section>
  );
}
