// A check that a value is plain JSON-like data before it crosses to the UI.
// Structured clone would carry a bigint, a typed array or a Map across, but the
// UI's JSON.stringify, React keys and number formatting would then break far
// from the cause; failing here names the exact field instead.

/** Throws a TypeError naming the first field that is not plain data; returns the value otherwise. */
export function assertPlainData<T>(value: T, path: string): T {
  check(value, path, new Set());
  return value;
}

function check(v: unknown, path: string, seen: Set<object>): void {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) fail(path, `the number ${v}, which JSON cannot carry`);
    return;
  }
  if (typeof v !== 'object') fail(path, `a ${typeof v} value`);
  const obj = v as object;
  if (ArrayBuffer.isView(obj) || obj instanceof ArrayBuffer) fail(path, `a ${obj.constructor.name}`);
  if (seen.has(obj)) fail(path, 'a reference back to an enclosing object');
  seen.add(obj);
  if (Array.isArray(obj)) obj.forEach((x, i) => check(x, `${path}[${i}]`, seen));
  else {
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) fail(path, `a ${obj.constructor?.name ?? 'class'} instance`);
    for (const [k, x] of Object.entries(obj)) check(x, `${path}.${k}`, seen);
  }
  seen.delete(obj);
}

function fail(path: string, what: string): never {
  throw new TypeError(`${path} is ${what}, not plain data; the engine must send numbers, strings, arrays and plain objects to the page.`);
}
