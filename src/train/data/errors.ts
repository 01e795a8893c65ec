// The typed error of training data: a file that cannot give a single usable
// example (empty, binary, not the format its name says, every row malformed).
// Row-level trouble is not an error: it is a Problem (types.ts) and the rest loads.
import { FormatError } from '../../base/errors.ts';

export class DatasetError extends FormatError {}
