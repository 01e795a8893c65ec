// "Try the demo": for a newcomer with no model on disk. One click runs
// src/state/demo.ts (the shipped stories260K Q4_0 and 40 KB of Shakespeare, a
// quick PEQA run); the panels below show the load, the run and the exports as
// for any drop. This says which step it is on, or why it stopped.
import { tryDemo } from '../../state/demo.ts';
import type { DemoStep } from '../../state/slices/demo.ts';
import { useAppStore, useServices } from '../hooks/useAppStore.ts';
import { formatBytes } from '../format.ts';
import { ErrorNote } from './ErrorNote.tsx';

const WORDS: Record<DemoStep, string> = {
  idle: '',
  fetching: 'fetching the demo files',
  loading: 'loading stories260K (Q4_0)',
  reading: 'reading the text',
  training: 'training: PEQA on the Q4_0 scales, 60 steps (see Fine-tune below)',
  done: 'done: compare the samples before and after, then export the tuned GGUF below',
  error: '',
};

export function DemoButton() {
  const { client, store } = useServices();
  const demo = useAppStore((s) => s.demo);
  const training = useAppStore((s) => s.train.run.status === 'running' || s.train.run.status === 'paused');
  const busy = demo.step !== 'idle' && demo.step !== 'done' && demo.step !== 'error';
  return (
    <div className="demo" data-testid="demo">
      <button type="button" data-testid="demo-start" disabled={busy || training} onClick={() => void tryDemo(client, store, document.baseURI)}>
        Try the demo
      </button>{' '}
      <span className="muted" role="status" aria-live="polite" data-testid="demo-status" data-step={demo.step}>
        {demo.step === 'idle'
          ? 'no model at hand? stories260K (277 KB) learns some Shakespeare'
          : demo.step === 'fetching' && demo.fetched > 0
            ? `${WORDS.fetching}: ${formatBytes(demo.fetched)}${demo.total ? ` of ${formatBytes(demo.total)}` : ''}`
            : WORDS[demo.step]}
      </span>
      {demo.step === 'error' && demo.error && <ErrorNote title="The demo stopped" error={demo.error} />}
    </div>
  );
}
