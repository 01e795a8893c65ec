// What the engine worker is doing, in words, from the phase names of its
// progress events (src/worker/protocol.ts) for generate and perplexity runs.
import type { RunProgress } from '../state/slices/generate.ts';
import { formatBytes, formatCount } from './format.ts';

const of = (p: RunProgress, unit: string) => (p.total > 0 ? ` (${formatCount(p.done)} of ${formatCount(p.total)} ${unit})` : '');

export function runPhaseText(p: RunProgress | null): string {
  if (!p) return 'starting…';
  switch (p.phase) {
    case 'device':
      return 'starting the GPU device…';
    case 'uploading weights':
      return p.total > 0 ? `uploading the weights to the GPU (${formatBytes(p.done)} of ${formatBytes(p.total)})…` : 'uploading the weights to the GPU…';
    case 'reading text':
      return p.total > 0 ? `reading the text (${formatBytes(p.done)} of ${formatBytes(p.total)})…` : 'reading the text…';
    case 'tokenizing':
      return 'tokenizing the text…';
    case 'evaluating':
      return `scoring windows${of(p, 'done')}…`;
    case 'reading data':
      return 'reading the data…';
    case 'calibrating':
      return `collecting the importance matrix${of(p, 'windows')}…`;
    case 'planning':
      return `measuring every matrix's candidates${of(p, 'matrices')}…`;
    default:
      return `${p.phase}…`;
  }
}
