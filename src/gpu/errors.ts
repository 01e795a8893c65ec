// Typed GPU errors. Each says what failed in plain words and what to do, and
// keeps its class name across the worker boundary (see src/worker/protocol.ts).
import { Sub4Error } from '../base/errors.ts';

/** No WebGPU implementation, or no adapter: the message names what is missing. */
export class GpuUnavailableError extends Sub4Error {}

/** The device was lost (driver reset, destroy(), tab backgrounded for too long). */
export class GpuDeviceLostError extends Sub4Error {
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

/** A validation error reported by the implementation: a bug in sub4, never the user's input. */
export class GpuValidationError extends Sub4Error {}

/** The implementation could not allocate; carries the request that failed. */
export class GpuOutOfMemoryError extends Sub4Error {}

/** A request that exceeds the device's granted limits (buffer size, binding size...). */
export class GpuLimitError extends Sub4Error {
  constructor(
    message: string,
    readonly limit: string,
    readonly requested: number,
    readonly allowed: number,
  ) {
    super(message);
  }
}

/** Map a GPUError from popErrorScope / uncapturederror to a typed error. */
export function fromGpuError(err: GPUError, context: string): Sub4Error {
  const msg = `${context}: ${err.message}`;
  if (typeof GPUOutOfMemoryError !== 'undefined' && err instanceof GPUOutOfMemoryError)
    return new GpuOutOfMemoryError(msg);
  if (err.constructor?.name === 'GPUOutOfMemoryError') return new GpuOutOfMemoryError(msg);
  return new GpuValidationError(msg);
}
