// Public entry of the training-data module: a dropped file's text → examples,
// token ids with loss masks, and windows of T tokens (see dataset.ts for the flow).
export { DatasetError } from './errors.ts';
export type { Example, ExampleKind, ParsedDataset, Problem, SourceFormat, TokenizedExample } from './types.ts';
export { detectSource, parseDataset } from './parse.ts';
export { rowPlace } from './place.ts';
export { alpacaPrompt, plainChatRender } from './templates.ts';
export { promptIds, promptText, type PromptOptions } from './prompt.ts';
export { tokenizeExamples, type TokenizeOptions, type TokenizeResult } from './tokenize.ts';
export { packWindows, reorderWindows, windowAt, type PackMode, type Windows } from './pack.ts';
export { evalCount, permutation, shuffled, splitTail, textCut } from './split.ts';
export { previewRow, type DatasetCounts, type PreviewRow, type PreviewSegment } from './preview.ts';
export { buildDataset, type DatasetOptions, type PreparedDataset } from './dataset.ts';
