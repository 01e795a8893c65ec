// The live loss chart of a training run, drawn by uPlot (canvas; cheap to redraw
// on every batch of step points): training loss per step as a line, held-out
// loss per evaluation as points joined across the steps between them. One uPlot
// instance per mount; new data goes in with setData, the width follows the panel.
// data-points / data-eval-points say how many values are drawn (tests read them).
import { useEffect, useMemo, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface LossSeries {
  steps: readonly number[];
  losses: readonly number[];
  evalSteps: readonly number[];
  evalLosses: readonly number[];
}

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

function options(width: number): uPlot.Options {
  // Axis text in the page's own colour (light or dark scheme).
  const ink = getComputedStyle(document.documentElement).getPropertyValue('--muted').trim() || '#667085';
  const grid = getComputedStyle(document.documentElement).getPropertyValue('--line').trim() || '#dde1e7';
  const axis = { stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  return {
    width,
    height: HEIGHT,
    scales: { x: { time: false } },
    axes: [
      { ...axis, label: 'step' },
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

export function LossChart(props: LossSeries) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data = useMemo(() => alignLosses(props), [props.steps, props.losses, props.evalSteps, props.evalLosses]);

  useEffect(() => {
    const el = box.current!;
    const u = new uPlot(options(Math.max(200, el.clientWidth)), data, el);
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

  return <div ref={box} className="loss-chart" data-testid="loss-chart" data-points={props.steps.length} data-eval-points={props.evalSteps.length} />;
}
