// A progress bar with its percentage written on it (an ARIA progressbar, so
// tests and screen readers read the same number the eye sees).
export function ProgressBar({ fraction, label, testId }: { fraction: number; label: string; testId?: string }) {
  const pct = Math.round(Math.min(1, Math.max(0, fraction)) * 100);
  return (
    <div className="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct} data-testid={testId}>
      <div className="progress-fill" style={{ width: `${pct}%` }} />
      <span className="progress-text">{pct} %</span>
    </div>
  );
}
