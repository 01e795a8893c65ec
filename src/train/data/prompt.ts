// A prompt typed by a user, as token ids in the layout a model was (or is being)
// trained on: plain text as is; an instruction in the Alpaca template; a chat
// turn rendered by the model's chat template (or the plain User:/Assistant:
// layout when asked for) with the assistant header after it. The training
// samples and Generate's chat mode use it, so a chat model is prompted the way
// its data was rendered, not with bare text it never saw.
import type { Tokenizer } from '../../io/tokenizer/types.ts';
import { DatasetError } from './errors.ts';
import { alpacaPrompt, plainChatRender } from './templates.ts';
import type { ExampleKind } from './types.ts';

export interface PromptOptions {
  /** Chat on a tokenizer without a template: the plain layout (else a chat prompt is refused). */
  plainChat?: boolean;
  /** Names the prompt in errors. */
  what?: string;
}

/** The prompt as the model reads it, before tokenizing: as typed, in the Alpaca template, or rendered as a chat turn. */
export function promptText(tok: Tokenizer, text: string, kind: ExampleKind, options: PromptOptions = {}): string {
  if (kind === 'text') return text;
  if (kind === 'instruction') return alpacaPrompt(text, '');
  const render = tok.applyChatTemplate ? tok.applyChatTemplate.bind(tok) : options.plainChat ? plainChatRender(tok) : null;
  if (!render)
    throw new DatasetError(options.what ?? 'the prompt', 'cannot be put in chat form: this tokenizer has no chat template (use plain text, or the plain User:/Assistant: layout)');
  return render([{ role: 'user', content: text }], { addGenerationPrompt: true });
}

/** The prompt's ids, from BOS where the tokenizer has one (templates that spell it keep one). */
export function promptIds(tok: Tokenizer, text: string, kind: ExampleKind, options: PromptOptions = {}): number[] {
  const shown = promptText(tok, text, kind, options);
  if (kind === 'text') return tok.encode(shown, { addBos: true });
  // As tokenize.ts reads the data: instruction text keeps special-token spellings as text; a chat render spells its control tokens.
  if (kind === 'instruction') return tok.encode(shown, { addBos: tok.addBosDefault, ...(tok.kind === 'hf' ? {} : { parseSpecial: false }) });
  const ids = tok.encode(shown, { addBos: false });
  return tok.addBosDefault && tok.bosId !== null && ids[0] !== tok.bosId ? [tok.bosId, ...ids] : ids;
}
