// The matmul self-test result: did the GPU compute y = x·wᵀ like the CPU
// reference, and how fast. The status word is what the e2e test waits for.
import type { GpuState } from '../../state/slices/gpu.ts';
import { selftestStatus } from '../../state/slices/gpu.ts';
import { formatBytes, formatError } from '../format.ts';

const PHASES: Record<string, string> = {
  device: 'starting the GPU device',
  selftest: 'running the matmul self-test',
};

export function SelfTest({ gpu }: { gpu: GpuState }) {
  const status = selftestStatus(gpu);
  const r = gpu.selftest;
  return (
    <div className="selftest">
      <h3>
        Matmul self-test <span className={`badge ${status}`} data-testid="selftest-status">{status}</span>
      </h3>
      {status === 'running' && <p className="muted">{gpu.phase ? `${PHASES[gpu.phase] ?? gpu.phase}…` : 'starting…'} (software GPUs take a while)</p>}
      {r && (
        <table className="kv">
          <tbody>
            <tr>
              <th>Shape</th>
              <td>
                y[{r.shape.T}×{r.shape.O}] = x[{r.shape.T}×{r.shape.I}] · w[{r.shape.O}×{r.shape.I}]ᵀ
              </td>
            </tr>
            <tr>
              <th>Kernel variant</th>
              <td>{r.variant}</td>
            </tr>
            <tr>
              <th>Max relative error</th>
              <td>
                {formatError(r.maxRelError)} <span className="muted">(pass ≤ {formatError(r.tolerance)}; max abs {formatError(r.maxAbsError)})</span>
              </td>
            </tr>
            <tr>
              <th>Result</th>
              <td className={r.passed ? 'ok' : 'bad'}>{r.passed ? 'PASSED' : 'FAILED'}</td>
            </tr>
            <tr>
              <th>Speed</th>
              <td>
                {r.gflops.toFixed(3)} GFLOP/s <span className="muted">({r.msPerRun.toFixed(2)} ms per run, peak GPU memory {formatBytes(r.peakGpuBytes)})</span>
              </td>
            </tr>
          </tbody>
        </table>
      )}
    </div>
  );
}
