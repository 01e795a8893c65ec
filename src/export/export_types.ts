// The export layer's shared types: the formats sub4 writes and what a choice of one says.
export const EXPORT_FORMATS = ['gguf', 'gguf-lora', 'peft', 'gptq', 'mlx', 'aqlm', 'merged'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportChoice {
  format: ExportFormat;
  /** Whether it can be written (exactly: sub4 never writes a lossy re-quantization silently). */
  ok: boolean;
  /** Why not, or what the files will hold. */
  detail: string;
  notes: string[];
}

export interface ExportResult {
  files: string[];
  notes: string[];
}
