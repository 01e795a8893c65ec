// Number formatting shared by the panels: bytes, counts and small errors.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → "1.5 KiB"; exact bytes below 1 KiB. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return String(n);
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${UNITS[u]}`;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** Errors span many decades; scientific notation keeps them comparable. */
export function formatError(n: number): string {
  return Number.isFinite(n) ? n.toExponential(2) : String(n);
}
