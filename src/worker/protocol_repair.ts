// Request and event shapes of "Repair quantization" (src/worker/repair.ts): the
// training panel's distillation of a quantized student from its unquantized
// teacher (what `sub4 tune --distill` does), rows of the one protocol
// (protocol.ts has teacher-load's files; train carries the rest).

/** Where the teacher of a repair comes from. */
export interface RepairSettings {
  /** 'self': the tab's own float model, of which the student is quantized here (--bits); 'file': the one teacher-load opened. */
  teacher: 'self' | 'file';
}

/** The teacher the worker opened and checked against the current model (kept for its runs). */
export interface TeacherReport {
  name: string;
  /** Paths of the files it was opened from. */
  opened: string[];
  /** Storage types of its tensors, each once ('F32', 'Q8_0'). */
  types: string[];
  vocab: number;
  /** Bytes of its weights as stored. */
  bytes: number;
}

/** Held-out figures against the teacher (src/train/distill/eval.ts DistillEval): the gap a repair closes. */
export interface TeacherGap {
  /** Mean KL(teacher ‖ student) per counted token over the whole vocabulary, nats. */
  kl: number;
  /** Share of tokens where both models' most likely next token agree. */
  top1: number;
  pplStudent: number;
  pplTeacher: number;
  tokens: number;
}

/** How a repair ran and the gap before and after it (TrainReport.repair). */
export interface RepairReport {
  /** The teacher's name ("stories260K (this tab's float model)"). */
  teacher: string;
  /** The studio runs the teacher live beside the student. */
  mode: 'live';
  /** The planner's choice in words (and, when it would have cached, that the studio runs live). */
  why: string;
  before: TeacherGap | null;
  after: TeacherGap | null;
  /** The held-out guard: set when KL to the teacher ended above where it started. */
  guard: string | null;
}
