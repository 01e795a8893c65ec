// The live loss chart of a training run, drawn by uPlot (canvas; cheap to redraw
// on every batch of step points): training loss per step as a line, held-out
// loss per evaluation as points joined across the steps between them. One uPlot
// instance per mount; new data goes in with setData, the width follows the panel.
// data-points / data-eval-points say how many values are drawn, data-first / data-last
// (and data-eval-*) the series' ends (tests read them).
// The canvas says nothing to a screen reader: a summary line and a table of the
// values (collapsed) stand beside it as its text alternative. A repair's chart
// of KL to the teacher is the same chart with its own labels (CHART_LABELS.kl).
import { useEffect, useMemo, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface LossSeries {
  steps: readonly number[];
  losses: readonly number[];
  evalSteps: readonly number[];
  evalLosses: readonly number[];
}

/** What a chart's series are called: on its axis, in its legend, its summary line and its table. */
export interface ChartLabels {
  /** data-testid prefix: `${id}-chart`, `${id}-summary`, `${id}-table`. */
  id: string;
  axis: string;
  train: string;
  held: string;
  /** "Training loss" / "Held-out loss" in the summary line and the table's headers. */
  trainName: string;
  heldName: string;
}

export const CHART_LABELS: Record<'loss' | 'kl', ChartLabels> = {
  loss: { id: 'loss', axis: 'loss (nats/token)', train: 'train', held: 'held-out', trainName: 'Training loss', heldName: 'Held-out loss' },
  kl: { id: 'kl', axis: 'KL to teacher (nats/token)', train: 'train KL', held: 'held-out KL', trainName: 'KL to the teacher per step', heldName: 'Held-out KL' },
};

/** Rows of the table beside the chart; a long run shows its last ones. */
const TABLE_ROWS = 200;

const HEIGHT = 220;
const TRAIN_COLOR = '#3b82f6';
const EVAL_COLOR = '#e8590c';

/** uPlot wants one x array with every series aligned to it: steps of both, gaps as null. */
export function alignLosses(s: LossSeries): uPlot.AlignedData {
  const xs = [...new Set([...s.steps, ...s.evalSteps])].sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  const train: (number | null)[] = new Array(xs.length).fill(null);
  const held: (number | null)[] = new Array(xs.length).fill(null);
  s.steps.forEach((x, i) => (train[at.get(x)!] = s.losses[i]));
  s.evalSteps.forEach((x, i) => (held[at.get(x)!] = s.evalLosses[i]));
  return [xs, train, held];
}

/**
 * Step ticks: whole steps only (uPlot's default increments include halves), and
 * at most about `width / 60` of them, at 1, 2 or 5 × a power of ten.
 */
export function stepTicks(lo: number, hi: number, width: number): number[] {
  if (!Number.isFinite(hi - lo) || hi < lo) return []; // no scale yet: nothing to tick (and no endless search below)
  const most = Math.max(2, Math.floor(width / 60));
  let incr = 1;
  for (let p = 1; ; p *= 10) {
    const c = [1, 2, 5].map((m) => m * p).find((v) => (hi - lo) / v <= most);
    if (c !== undefined) {
      incr = c;
      break;
    }
  }
  const out: number[] = [];
  for (let x = Math.ceil(lo / incr) * incr; x <= hi; x += incr) out.push(x);
  return out;
}

/** The x range: step 0 (the eval before training) or 1 through the run's last step, whatever has been drawn yet. */
function xRange(s: LossSeries, totalSteps: number): [number, number] {
  const lo = Math.min(1, s.evalSteps[0] ?? 1, s.steps[0] ?? 1);
  return [lo, Math.max(lo + 1, totalSteps, s.steps.at(-1) ?? 0, s.evalSteps.at(-1) ?? 0)];
}

/** The chart in one sentence. */
export function lossSummary(s: LossSeries, l: ChartLabels = CHART_LABELS.loss): string {
  if (s.steps.length === 0 && s.evalSteps.length === 0) return l.id === 'loss' ? 'No loss yet.' : `No ${l.trainName} yet.`;
  const f = (x: number) => x.toFixed(3);
  const parts: string[] = [];
  if (s.steps.length) {
    let lo = 0;
    s.losses.forEach((l, i) => (l < s.losses[lo] ? (lo = i) : 0));
    parts.push(
      `${l.trainName} ${f(s.losses[0])} at step ${s.steps[0]}, ${f(s.losses.at(-1)!)} at step ${s.steps.at(-1)} (lowest ${f(s.losses[lo])} at step ${s.steps[lo]}).`,
    );
  }
  if (s.evalSteps.length)
    parts.push(`${l.heldName} ${s.evalSteps.map((x, i) => `${f(s.evalLosses[i])} at step ${x}`).join(', ')}.`);
  return parts.join(' ');
}

function options(width: number, range: () => [number, number], l: ChartLabels): uPlot.Options {
  // Axis text in the page's own colour (light or dark scheme).
  const ink = getComputedStyle(document.documentElement).getPropertyValue('--muted').trim() || '#667085';
  const grid = getComputedStyle(document.documentElement).getPropertyValue('--line').trim() || '#dde1e7';
  const axis = { stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  return {
    width,
    height: HEIGHT,
    scales: { x: { time: false, range: () => range() } },
    axes: [
      {
        ...axis,
        label: 'step',
        splits: (u) => {
          const ticks = stepTicks(u.scales.x.min ?? 0, u.scales.x.max ?? 1, u.width);
          // The ticks drawn, on the chart's box: the canvas holds them only as pixels (tests read this).
          const box = u.root.parentElement;
          if (box) box.dataset.xTicks = ticks.join(' ');
          return ticks;
        },
      },
      { ...axis, label: l.axis, size: 56 },
    ],
    series: [
      { label: 'step' },
      { label: l.train, stroke: TRAIN_COLOR, width: 1.5, spanGaps: true, points: { show: false } },
      { label: l.held, stroke: EVAL_COLOR, width: 1.5, dash: [4, 4], spanGaps: true, points: { show: true, size: 7, fill: EVAL_COLOR } },
    ],
    legend: { show: true },
    cursor: { drag: { x: false, y: false } },
  };
}

export function LossChart(props: LossSeries & { totalSteps: number; labels?: ChartLabels }) {
  const l = props.labels ?? CHART_LABELS.loss;
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data = useMemo(() => alignLosses(props), [props.steps, props.losses, props.evalSteps, props.evalLosses]);
  // uPlot reads the range on every redraw; the ref keeps it current without a new plot.
  const range = useRef<[number, number]>([1, 2]);
  range.current = xRange(props, props.totalSteps);

  useEffect(() => {
    const el = box.current!;
    const u = new uPlot(options(Math.max(200, el.clientWidth), () => range.current, l), data, el);
    plot.current = u;
    const resize = new ResizeObserver(() => {
      if (el.clientWidth > 0 && Math.abs(el.clientWidth - u.width) > 1) u.setSize({ width: el.clientWidth, height: HEIGHT });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
    // Made once per mount (with the data of that moment); later data goes through setData below.
  }, []);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  const first = Math.max(0, props.steps.length - TABLE_ROWS);
  const evalAt = new Map(props.evalSteps.map((x, i) => [x, props.evalLosses[i]]));
  return (
    <figure className={`${l.id}-figure loss-figure`}>
      <div
        ref={box}
        className="loss-chart"
        data-testid={`${l.id}-chart`}
        data-points={props.steps.length}
        data-eval-points={props.evalSteps.length}
        data-first={props.losses[0] ?? ''}
        data-last={props.losses.at(-1) ?? ''}
        data-eval-first={props.evalLosses[0] ?? ''}
        data-eval-last={props.evalLosses.at(-1) ?? ''}
        data-x-min={range.current[0]}
        data-x-max={range.current[1]}
        aria-hidden="true"
      />
      <figcaption className="note" data-testid={`${l.id}-summary`}>
        {lossSummary(props, l)}
      </figcaption>
      {props.steps.length > 0 && (
        <details className="loss-table">
          <summary>{l.id === 'loss' ? 'Loss table' : `${l.heldName} table`}</summary>
          <table className="grid" data-testid={`${l.id}-table`}>
            <thead>
              <tr>
                <th className="num">step</th>
                <th className="num">{l.trainName.toLowerCase()}</th>
                <th className="num">{l.heldName.toLowerCase()}</th>
              </tr>
            </thead>
            <tbody>
              {props.steps.slice(first).map((x, i) => (
                <tr key={x}>
                  <td className="num">{x}</td>
                  <td className="num">{props.losses[first + i].toFixed(4)}</td>
                  <td className="num">{evalAt.has(x) ? evalAt.get(x)!.toFixed(4) : ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </figure>
  );
}
