// An error as the UI shows it: the class name (GgufError, GpuUnavailableError)
// and the plain-words message. Shared by every slice that can fail.

export interface ErrorText {
  name: string;
  message: string;
}

export function toErrorText(err: unknown): ErrorText {
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}
