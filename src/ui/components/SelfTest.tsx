// The matmul self-test result: did the GPU compute y = x·wᵀ like the CPU
// reference, and how fast. The status word is what the e2e test waits for.
import type { GpuState } from '../../state/slices/gpu.ts';
import { selftestStatus } from '../../state/slices/gpu.ts';
import { formatBytes, formatError } from '../format.ts';

const PHASES: Record<string, string> = {
  device: 'starting the GPU device',
  selftest: 'running the matmul self-test',
};

/** The matmul variants in words: "blocked" alone reads like an error. */
const KERNELS: Record<string, string> = {
  naive: 'simple (one output per thread)',
  blocked: 'register-tiled, 4×4 outputs per thread (the faster one on software GPUs)',
  tiled: 'workgroup-tiled (the faster one on hardware GPUs)',
};

export function SelfTest({ gpu }: { gpu: GpuState }) {
  const status = selftestStatus(gpu);
  const r = gpu.selftest;
  return (
    <div className="selftest">
      <h3>
        Matmul self-test <span className={`badge ${status}`} data-testid="selftest-status" role="status">{status}</span>
      </h3>
      {status === 'running' && <p className="muted">{gpu.phase ? `${PHASES[gpu.phase] ?? gpu.phase}…` : 'starting…'} (software GPUs take a while)</p>}
      {r && (
        <p className="selftest-line" data-testid="selftest-line">
          {r.passed ? 'The GPU computed what the CPU reference did' : 'The GPU did not compute what the CPU reference did'}, at {r.gflops.toFixed(2)} GFLOP/s.
        </p>
      )}
      {/* The figures behind that line, folded: a first screen has better uses for the room. */}
      {r && (
        <details className="selftest-details" data-testid="selftest-details">
          <summary>Self-test details</summary>
        <table className="kv">
          <tbody>
            <tr>
              <th>Shape</th>
              <td>
                y[{r.shape.T}×{r.shape.O}] = x[{r.shape.T}×{r.shape.I}] · w[{r.shape.O}×{r.shape.I}]ᵀ
              </td>
            </tr>
            <tr>
              <th>Kernel used</th>
              <td data-testid="selftest-kernel">{KERNELS[r.variant] ?? r.variant}</td>
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
        </details>
      )}
    </div>
  );
}
