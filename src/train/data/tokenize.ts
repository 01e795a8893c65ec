// Examples → token ids + loss masks.
//   text         loss on every token (but the first, which nothing in the example predicts)
//   instruction  Alpaca prompt + output + EOS; loss on the output tokens and the EOS
//   chat         rendered with the model's chat template; loss on every assistant turn:
//                its content and the end-of-turn token, not the template's assistant header
// Each example is tokenized whole, as the model sees it; the mask boundaries are
// found by prefix alignment (align.ts). BOS is prepended per the tokenizer's
// default unless the rendered text already starts with it (templates that spell
// {{ bos_token }}).
import type { ChatMessage, Tokenizer } from '../../io/tokenizer/types.ts';
import { tokenBoundary } from './align.ts';
import { DatasetError } from './errors.ts';
import { alpacaPrompt, plainChatRender, type ChatRender } from './templates.ts';
import { rowPlace } from './place.ts';
import type { Example, Problem, SourceFormat, TokenizedExample } from './types.ts';

export interface TokenizeOptions {
  /**
   * When the tokenizer has no chat template, render chat rows with the plain
   * "User:/Assistant:" layout of templates.ts instead of refusing the file
   * (the default: a DatasetError, since a base model has no chat format to match).
   */
  plainChatFallback?: boolean;
  /** Append EOS to text rows (separate documents of a JSONL file). Default false (a .txt file is one document). */
  eosAfterText?: boolean;
  /** How the file was read, so messages name rows as the user finds them ("record 12" in a JSON array). */
  source?: SourceFormat;
  /** Called every few rows with the count done, so a UI can show progress. */
  onProgress?: (done: number, total: number) => void;
}

export interface TokenizeResult {
  examples: TokenizedExample[];
  problems: Problem[];
  notes: string[];
}

/** A row that cannot be tokenized; becomes a Problem with kept = false. */
class RowError extends Error {}

interface Ctx {
  plain: (s: string) => number[];
  templated: (s: string) => number[];
  decode: (ids: readonly number[]) => string;
  render?: ChatRender;
  eos: number | null;
  eosSet: Set<number>;
  /** Set when a boundary fell inside a token (the row is kept, with a problem). */
  inexact: string[];
  turnsWithoutEnd: number;
}

function boundary(c: Ctx, text: string, ids: number[], at: number, side: 'start' | 'end', encode: (s: string) => number[], what: string): number {
  const b = tokenBoundary(text, ids, at, side, encode, c.decode);
  if (!b.exact) c.inexact.push(what);
  return b.token;
}

function textExample(c: Ctx, text: string, eosAfter: boolean): { ids: number[]; mask: number[] } {
  const ids = c.plain(text);
  const mask = ids.map(() => 1);
  if (eosAfter && c.eos !== null) {
    ids.push(c.eos);
    mask.push(1);
  }
  return { ids, mask };
}

function instructionExample(c: Ctx, e: Extract<Example, { kind: 'instruction' }>): { ids: number[]; mask: number[] } {
  const prompt = alpacaPrompt(e.instruction, e.input);
  const full = prompt + e.output;
  const ids = c.plain(full);
  const a = boundary(c, full, ids, prompt.length, 'start', c.plain, 'the end of the prompt');
  if (a >= ids.length) throw new RowError('the output adds no tokens after the prompt');
  const mask = ids.map((_, j) => (j >= a ? 1 : 0));
  if (c.eos !== null) {
    ids.push(c.eos);
    mask.push(1);
  }
  return { ids, mask };
}

function renderChat(c: Ctx, messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
  try {
    return c.render!(messages, { addGenerationPrompt });
  } catch (e) {
    throw new RowError(`the chat template cannot render it: ${(e as Error).message}`);
  }
}

/**
 * For assistant turn i: P = render(messages[0..i), generation prompt) ends with the
 * assistant header, C = render(messages[0..i]) ends after the turn. Both must be
 * prefixes of the full render F; the turn is F[|P|, |C|). Its loss covers tokens
 * from the header's end through the last end-of-turn (EOS-set) token in the span,
 * so a separator the template prints after that token (SmolLM's "\n") stays out.
 */
function chatExample(c: Ctx, messages: readonly ChatMessage[]): { ids: number[]; mask: number[] } {
  const full = renderChat(c, messages, false);
  const ids = c.templated(full);
  const mask = ids.map(() => 0);
  messages.forEach((m, i) => {
    if (m.role !== 'assistant') return;
    const p = renderChat(c, messages.slice(0, i), true);
    const q = renderChat(c, messages.slice(0, i + 1), false);
    if (!full.startsWith(p) || !full.startsWith(q) || q.length <= p.length)
      throw new RowError(`the chat template does not render assistant turn ${i} as a continuation of the turns before it, so its tokens cannot be found`);
    const a = boundary(c, full, ids, p.length, 'start', c.templated, `the start of assistant turn ${i}`);
    const b = boundary(c, full, ids, q.length, 'end', c.templated, `the end of assistant turn ${i}`);
    let end = b - 1;
    while (end >= a && !c.eosSet.has(ids[end])) end--;
    if (end < a) {
      end = b - 1; // no end-of-turn token: the whole rendered turn
      c.turnsWithoutEnd++;
    }
    for (let j = a; j <= end; j++) mask[j] = 1;
  });
  return { ids, mask };
}

/** Tokenizes parsed examples; rows that fail become problems, the rest come back in order. */
export function tokenizeExamples(examples: readonly Example[], tok: Tokenizer, file: string, options: TokenizeOptions = {}): TokenizeResult {
  const hasChat = examples.some((e) => e.kind === 'chat');
  let render: ChatRender | undefined = tok.applyChatTemplate?.bind(tok);
  const notes: string[] = [];
  if (hasChat && !render) {
    if (!options.plainChatFallback)
      throw new DatasetError(file, 'is chat data, which is rendered with the model\'s chat template, but this tokenizer has none; use an instruct/chat model, or render the chats as plain "User:/Assistant:" turns (the studio\'s "Plain User:/Assistant: chats" box, or sub4 tune --plain-chat)');
    render = plainChatRender(tok);
    notes.push('the tokenizer has no chat template: conversations use the plain "User:/Assistant:" layout; prompt the tuned model the same way');
  }
  const c: Ctx = {
    // Plain text keeps special-token spellings as text where the tokenizer allows (as `sub4 eval` does);
    // template renders need them parsed, since the template spells its control tokens.
    plain: (s) => tok.encode(s, tok.kind === 'hf' ? { addBos: false } : { addBos: false, parseSpecial: false }),
    templated: (s) => tok.encode(s, { addBos: false }),
    decode: (ids) => tok.decode(ids),
    render,
    eos: tok.eosIds.length ? tok.eosIds[0] : null,
    eosSet: new Set(tok.eosIds),
    inexact: [],
    turnsWithoutEnd: 0,
  };
  const bos = tok.addBosDefault && tok.bosId !== null ? tok.bosId : null;
  if (c.eos === null && examples.some((e) => e.kind === 'instruction'))
    notes.push('the tokenizer has no EOS token: instruction examples end without one, so the model does not learn to stop');

  const out: TokenizedExample[] = [];
  const problems: Problem[] = [];
  examples.forEach((e, n) => {
    if (n % 64 === 0) options.onProgress?.(n, examples.length);
    c.inexact = [];
    try {
      const r = e.kind === 'text' ? textExample(c, e.text, options.eosAfterText ?? false) : e.kind === 'instruction' ? instructionExample(c, e) : chatExample(c, e.messages);
      if (bos !== null && r.ids[0] !== bos) {
        r.ids.unshift(bos);
        r.mask.unshift(0);
      }
      if (r.ids.length < 2) throw new RowError('it tokenizes to fewer than 2 tokens: nothing to predict');
      r.mask[0] = 0;
      if (c.inexact.length)
        problems.push({
          line: e.line,
          index: e.index,
          kept: true,
          message: `${c.inexact.join(', ')} falls inside a token; the straddling token is counted with the response`,
        });
      out.push({ line: e.line, index: e.index, ids: r.ids, mask: Uint8Array.from(r.mask) });
    } catch (err) {
      if (!(err instanceof RowError)) throw err;
      problems.push({ line: e.line, index: e.index, kept: false, message: err.message });
    }
  });
  options.onProgress?.(examples.length, examples.length);
  if (c.turnsWithoutEnd > 0)
    notes.push(`${c.turnsWithoutEnd} assistant turns have no end-of-turn token from the template: their whole rendered turn is in the loss`);
  if (out.length === 0 && examples.length > 0)
    throw new DatasetError(file, `no example could be tokenized: ${problems.slice(0, 3).map((p) => `${rowPlace(options.source ?? 'jsonl', p.line, p.index)}: ${p.message}`).join('; ')}`);
  return { examples: out, problems, notes };
}
