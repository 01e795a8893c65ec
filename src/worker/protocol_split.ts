// Where a load took its time, as the worker reports it to the page (the model card
// shows it). Its own file because both protocol.ts and protocol_train.ts answers carry it.

/**
 * Wall time of one load, split by phase (ms): opening ('read' = waiting on file
 * slices, 'parse' = headers and tokenizer, 'facts') or putting the weights on the
 * GPU ('read', 'decode', 'repack', 'convert', 'upload', … as src/model/weights.ts
 * names them). Phases may overlap (a read ahead runs beside a decode), so they
 * need not sum to the total.
 */
export interface LoadSplit {
  totalMs: number;
  phases: Record<string, number>;
}

/** In the answer of every request that runs the model on its GPU weights: set when this request uploaded them (the first run after a load). */
export interface WeightsPlaced {
  /** How long putting the weights on the GPU took, by phase. */
  weights?: LoadSplit;
}
