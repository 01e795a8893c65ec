// Typed errors of checkpoints. Each names the file and the problem in plain
// words; the class name crosses the worker boundary like every Sub4Error.
import { FormatError, Sub4Error } from '../../base/errors.ts';

/** A checkpoint file that cannot be read back (not a checkpoint, torn, an older version, missing tensors). */
export class CheckpointError extends FormatError {}

/** A checkpoint made on another base model or other data: training it on would mix two runs. */
export class CheckpointMismatchError extends FormatError {}

/** A checkpoint could not be written (disk full, no permission, …); the previous checkpoint is untouched. */
export class CheckpointWriteError extends Sub4Error {
  constructor(
    readonly file: string,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${detail}`, options);
  }
}
