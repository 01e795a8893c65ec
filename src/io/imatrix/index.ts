// Importance matrices (llama.cpp imatrix): read (GGUF or legacy .dat), write, and the per-column weights.
export * from './types.ts';
export { readImatrix } from './reader.ts';
export { writeImatrixGguf, encodeImatrixDat } from './writer.ts';
