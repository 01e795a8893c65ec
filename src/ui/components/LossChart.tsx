// The live loss chart of a training run, drawn by uPlot (canvas; cheap to redraw
// on every batch of step points): training loss per step as a line, held-out
// loss per evaluation as points joined across the steps between them. One uPlot
// instance per mount; new data goes in with setData, the width follows the panel.
// data-points / data-eval-points say how many values are drawn (tests read them).
// The canvas says nothing to a screen reader: a summary line and a table of the
// values (collapsed) stand beside it as its text alternative.
import { useEffect, useMemo, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface LossSeries {
  steps: readonly number[];
  losses: readonly number[];
  evalSteps: readonly number[];
  evalLosses: readonly number[];
}

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
export function lossSummary(s: LossSeries): string {
  if (s.steps.length === 0 && s.evalSteps.length === 0) return 'No loss yet.';
  const f = (x: number) => x.toFixed(3);
  const parts: string[] = [];
  if (s.steps.length) {
    let lo = 0;
    s.losses.forEach((l, i) => (l < s.losses[lo] ? (lo = i) : 0));
    parts.push(
      `Training loss ${f(s.losses[0])} at step ${s.steps[0]}, ${f(s.losses.at(-1)!)} at step ${s.steps.at(-1)} (lowest ${f(s.losses[lo])} at step ${s.steps[lo]}).`,
    );
  }
  if (s.evalSteps.length)
    parts.push(`Held-out loss ${s.evalSteps.map((x, i) => `${f(s.evalLosses[i])} at step ${x}`).join(', ')}.`);
  return parts.join(' ');
}

function options(width: number, range: () => [number, number]): uPlot.Options {
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
      { ...axis, label: 'loss (nats/token)', size: 56 },
    ],
    series: [
      { label: 'step' },
      { label: 'train', stroke: TRAIN_COLOR, width: 1.5, spanGaps: true, points: { show: false } },
      { label: 'held-out', stroke: EVAL_COLOR, width: 1.5, dash: [4, 4], spanGaps: true, points: { show: true, size: 7, fill: EVAL_COLOR } },
    ],
    legend: { show: true },
    cursor: { drag: { x: false, y: false } },
  };
}

export function LossChart(props: LossSeries & { totalSteps: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data = useMemo(() => alignLosses(props), [props.steps, props.losses, props.evalSteps, props.evalLosses]);
  // uPlot reads the range on every redraw; the ref keeps it current without a new plot.
  const range = useRef<[number, number]>([1, 2]);
  range.current = xRange(props, props.totalSteps);

  useEffect(() => {
    const el = box.current!;
    const u = new uPlot(options(Math.max(200, el.clientWidth), () => range.current), data, el);
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
    <figure className="loss-figure">
      <div
        ref={box}
        className="loss-chart"
        data-testid="loss-chart"
        data-points={props.steps.length}
        data-eval-points={props.evalSteps.length}
        data-x-min={range.current[0]}
        data-x-max={range.current[1]}
        aria-hidden="true"
      />
      <figcaption className="note" data-testid="loss-summary">
        {lossSummary(props)}
      </figcaption>
      {props.steps.length > 0 && (
        <details className="loss-table">
          <summary>Loss table</summary>
          <table className="grid" data-testid="loss-table">
            <thead>
              <tr>
                <th className="num">step</th>
                <th className="num">training loss</th>
                <th className="num">held-out loss</th>
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
