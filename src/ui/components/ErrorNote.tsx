// An error in plain words: the message first, the error class as a small label.
import type { ErrorText } from '../../state/errors.ts';

export function ErrorNote({ error, title }: { error: ErrorText; title: string }) {
  return (
    <div className="error-note" role="alert">
      <strong>{title}</strong>
      <p>{error.message}</p>
      <span className="error-name">{error.name}</span>
    </div>
  );
}
