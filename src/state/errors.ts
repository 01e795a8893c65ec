// An error as the UI shows it: the class name (GgufError, GpuUnavailableError)
// and the plain-words message. Shared by every slice that can fail.

export interface ErrorText {
  name: string;
  message: string;
  /** The form field a RequestParamError names ('seq len', 'steps'): shown beside that field, not blamed on a file. */
  field?: string;
}

export function toErrorText(err: unknown): ErrorText {
  if (err instanceof Error) {
    // The worker's error arrives rebuilt with its own fields (protocol.ts deserializeError), `field` among them.
    const field = (err as { field?: unknown }).field;
    return typeof field === 'string' ? { name: err.name, message: err.message, field } : { name: err.name, message: err.message };
  }
  return { name: 'Error', message: String(err) };
}
