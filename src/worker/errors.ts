// Typed errors of the engine's model requests (generate, perplexity), in the
// words the page shows. Errors of the files themselves come from the engine
// (GgufError, TokenizerError, EvalDataError); these say what the request lacked.
import { Sub4Error } from '../base/errors.ts';

/** A request that needs a model arrived while none is open (never loaded, failed, or being replaced). */
export class NoModelError extends Sub4Error {}

/** A request parameter out of range; `field` names it as the page labels it. */
export class RequestParamError extends Sub4Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** The request was stopped before it finished (by the page, or because a new model was loaded). */
export class CancelledError extends Sub4Error {}

/** What was given, in the page's words: the forms send an empty box (or text that is no number) as NaN. */
function given(v: unknown): string {
  return typeof v === 'number' && Number.isNaN(v) ? 'but the box is empty (or holds no number)' : `got ${String(v)}`;
}

/** An integer parameter in [min, max], or a RequestParamError naming it. */
export function intParam(v: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new RequestParamError(field, `must be a whole number from ${min} to ${max}, ${given(v)}`);
  return v;
}

/** A finite number in [min, max], or a RequestParamError naming it. */
export function numParam(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw new RequestParamError(field, `must be a number from ${min} to ${max}, ${given(v)}`);
  return v;
}

/** A switch: true, false or absent (off), or a RequestParamError naming it. */
export function boolParam(v: unknown, field: string): boolean {
  if (v !== undefined && typeof v !== 'boolean') throw new RequestParamError(field, `must be on or off (true or false), got ${String(v)}`);
  return v === true;
}
