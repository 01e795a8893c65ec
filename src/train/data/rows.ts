// One JSON row → examples, by the fields it has. The layouts accepted:
//   {text}                                         plain text, one document per row
//   {instruction, input?, output}                  Alpaca
//   {instruction, instances: [{input, output}]}    self-instruct seed tasks: one Alpaca example per instance
//   {messages: [{role, content}]}                  OpenAI-style chat (KTO files add a boolean "label")
//   {conversations: [{from, value}], system?, chosen?}  ShareGPT; DPO rows append "chosen" as the last
//                                                  assistant turn ("rejected" is not used for fine-tuning)
// Field checks are strict (wrong types are problems, not coercions) because a
// silently mangled row trains the model on something the user never wrote.
import type { ChatMessage } from '../../io/tokenizer/types.ts';
import type { Example, ExampleKind } from './types.ts';

export type RowLayout = 'text' | 'alpaca' | 'seed-tasks' | 'openai-chat' | 'sharegpt' | 'sharegpt-dpo';

export interface RowResult {
  /** The layout recognized from the row's fields, or undefined when none matched. */
  layout?: RowLayout;
  examples: Example[];
  /** What is wrong; a row with errors and no examples is left out. */
  errors: string[];
  /** The KTO "label" when present (for the note about undesirable rows). */
  label?: boolean;
}

export const LAYOUT_KIND: Record<RowLayout, ExampleKind> = {
  text: 'text',
  alpaca: 'instruction',
  'seed-tasks': 'instruction',
  'openai-chat': 'chat',
  sharegpt: 'chat',
  'sharegpt-dpo': 'chat',
};

export const LAYOUT_NAME: Record<RowLayout, string> = {
  text: 'JSON text rows {text}',
  alpaca: 'Alpaca (instruction / input / output)',
  'seed-tasks': 'self-instruct seed tasks (instruction + instances), one Alpaca example per instance',
  'openai-chat': 'chat messages [{role, content}]',
  sharegpt: 'ShareGPT conversations [{from, value}]',
  'sharegpt-dpo': 'ShareGPT conversations + DPO "chosen" as the final assistant turn',
};

/** Alpaca's placeholder output of a task with no text answer. */
const NO_OUTPUT = '<nooutput>';

const ROLES = new Set(['system', 'user', 'assistant']);
/**
 * Most turns in one conversation. Finding each assistant turn's tokens renders and
 * tokenizes the conversation up to it, so the cost grows with turns²; real chat data
 * has a few dozen at most.
 */
export const MAX_TURNS = 256;
/** ShareGPT speaker names → chat roles. */
const SHAREGPT_ROLES: Record<string, string> = { human: 'user', user: 'user', gpt: 'assistant', assistant: 'assistant', system: 'system' };

type Obj = Record<string, unknown>;

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

/** A string field: present and a string, else an error. `optional` allows absence (→ ''). */
function str(o: Obj, key: string, errors: string[], where = '', optional = false): string | undefined {
  const v = o[key];
  if (v === undefined && optional) return '';
  if (typeof v === 'string') return v;
  errors.push(`${where}"${key}" ${v === undefined ? 'is missing' : `must be a string, not ${typeName(v)}`}`);
  return undefined;
}

function layoutOf(o: Obj): RowLayout | undefined {
  if ('messages' in o) return 'openai-chat';
  if ('conversations' in o) return 'chosen' in o ? 'sharegpt-dpo' : 'sharegpt';
  if ('instruction' in o && 'instances' in o) return 'seed-tasks';
  if ('instruction' in o || 'output' in o) return 'alpaca';
  if ('text' in o) return 'text';
  return undefined;
}

function alpaca(o: Obj, base: { line: number; index: number }, errors: string[]): Example[] {
  const instruction = str(o, 'instruction', errors);
  const input = str(o, 'input', errors, '', true);
  const output = str(o, 'output', errors);
  if (instruction === undefined || input === undefined || output === undefined) return [];
  if (instruction.trim() === '') errors.push('"instruction" is empty');
  if (output.trim() === '') errors.push('"output" is empty: nothing to learn');
  // Alpaca marks tasks a text model cannot answer (draw, listen...) with this; trained on, the model learns to say it.
  else if (output.trim() === NO_OUTPUT) errors.push(`"output" is ${NO_OUTPUT} (Alpaca's mark for a task without a text answer): nothing to learn`);
  return errors.length ? [] : [{ kind: 'instruction', ...base, instruction, input, output }];
}

function seedTasks(o: Obj, base: { line: number; index: number }, errors: string[]): Example[] {
  const instruction = str(o, 'instruction', errors);
  const inst = o.instances;
  if (!Array.isArray(inst)) errors.push(`"instances" must be a list of {input, output}, not ${typeName(inst)}`);
  else if (inst.length === 0) errors.push('"instances" is empty');
  if (instruction === undefined || !Array.isArray(inst)) return [];
  if (instruction.trim() === '') {
    errors.push('"instruction" is empty');
    return [];
  }
  const out: Example[] = [];
  inst.forEach((it, k) => {
    if (typeof it !== 'object' || it === null || Array.isArray(it)) return errors.push(`instances[${k}] must be an object, not ${typeName(it)}`);
    const e: string[] = [];
    const input = str(it as Obj, 'input', e, `instances[${k}].`, true);
    const output = str(it as Obj, 'output', e, `instances[${k}].`);
    if (output !== undefined && output.trim() === '') e.push(`instances[${k}].output is empty`);
    if (e.length || input === undefined || output === undefined) return errors.push(...e);
    out.push({ kind: 'instruction', ...base, instruction, input, output });
  });
  return out;
}

function openaiChat(o: Obj, errors: string[]): ChatMessage[] | undefined {
  const msgs = o.messages;
  if (!Array.isArray(msgs)) return void errors.push(`"messages" must be a list of {role, content}, not ${typeName(msgs)}`);
  const out: ChatMessage[] = [];
  msgs.forEach((m, k) => {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return errors.push(`messages[${k}] must be an object, not ${typeName(m)}`);
    const e: string[] = [];
    const role = str(m as Obj, 'role', e, `messages[${k}].`);
    const content = str(m as Obj, 'content', e, `messages[${k}].`);
    if (role !== undefined && !ROLES.has(role)) e.push(`messages[${k}].role "${role}" is not one of system, user, assistant`);
    if (e.length || role === undefined || content === undefined) return errors.push(...e);
    out.push({ role, content });
  });
  return out;
}

function shareGptTurn(t: unknown, where: string, errors: string[]): ChatMessage | undefined {
  if (typeof t !== 'object' || t === null || Array.isArray(t)) return void errors.push(`${where} must be an object {from, value}, not ${typeName(t)}`);
  const e: string[] = [];
  const from = str(t as Obj, 'from', e, `${where}.`);
  const value = str(t as Obj, 'value', e, `${where}.`);
  const role = from === undefined ? undefined : SHAREGPT_ROLES[from];
  if (from !== undefined && role === undefined) e.push(`${where}.from "${from}" is not one of human, gpt, system`);
  if (e.length || role === undefined || value === undefined) return void errors.push(...e);
  return { role, content: value };
}

function shareGpt(o: Obj, errors: string[]): ChatMessage[] | undefined {
  const conv = o.conversations;
  if (!Array.isArray(conv)) return void errors.push(`"conversations" must be a list of {from, value}, not ${typeName(conv)}`);
  const out: ChatMessage[] = [];
  if (o.system !== undefined) {
    if (typeof o.system !== 'string') errors.push(`"system" must be a string, not ${typeName(o.system)}`);
    else if (o.system !== '') out.push({ role: 'system', content: o.system });
  }
  conv.forEach((t, k) => {
    const m = shareGptTurn(t, `conversations[${k}]`, errors);
    if (m) out.push(m);
  });
  if ('chosen' in o) {
    // DPO: "chosen" is a {from, value} turn (LLaMA-Factory) or a plain string.
    const c = typeof o.chosen === 'string' ? { role: 'assistant', content: o.chosen } : shareGptTurn(o.chosen, '"chosen"', errors);
    if (c && c.role !== 'assistant') errors.push(`"chosen" must be an assistant (gpt) turn, not ${c.role}`);
    else if (c) out.push(c);
  }
  return out;
}

/** Validates one parsed JSON value. `base` carries the row's line and index into its examples. */
export function rowExamples(value: unknown, base: { line: number; index: number }): RowResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { examples: [], errors: [`a row must be a JSON object, not ${typeName(value)}`] };
  const o = value as Obj;
  const layout = layoutOf(o);
  const errors: string[] = [];
  if (layout === undefined) {
    const keys = Object.keys(o).slice(0, 8).join(', ') || 'none';
    return { examples: [], errors: [`no known fields (text; instruction + output; messages; conversations); its fields: ${keys}`] };
  }
  if (layout === 'text') {
    const text = str(o, 'text', errors);
    if (text !== undefined && text.trim() === '') errors.push('"text" is empty');
    return { layout, examples: errors.length ? [] : [{ kind: 'text', ...base, text: text! }], errors };
  }
  if (layout === 'alpaca') return { layout, examples: alpaca(o, base, errors), errors };
  if (layout === 'seed-tasks') return { layout, examples: seedTasks(o, base, errors), errors };

  const messages = layout === 'openai-chat' ? openaiChat(o, errors) : shareGpt(o, errors);
  const label = typeof o.label === 'boolean' ? o.label : undefined;
  if (messages && messages.length > MAX_TURNS) errors.push(`${messages.length} turns, more than the ${MAX_TURNS} one conversation may have`);
  if (errors.length || !messages) return { layout, examples: [], errors, label };
  if (!messages.some((m) => m.role === 'assistant')) return { layout, examples: [], errors: ['no assistant turn: nothing to learn'], label };
  return { layout, examples: [{ kind: 'chat', ...base, messages }], errors, label };
}
