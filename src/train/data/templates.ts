// Prompt texts: the Stanford Alpaca template (train.py's PROMPT_DICT, with and
// without input) and the plain chat layout used only when the user asks for it
// on a tokenizer that ships no chat template.
import type { ChatMessage, ChatTemplateOptions, Tokenizer } from '../../io/tokenizer/types.ts';

const ALPACA_HEAD_INPUT =
  'Below is an instruction that describes a task, paired with an input that provides further context. ' +
  'Write a response that appropriately completes the request.\n\n';
const ALPACA_HEAD_NO_INPUT = 'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n';

/**
 * The Alpaca prompt; the response follows it directly. An empty input selects the
 * no-input template, as Alpaca's train.py does (input === ""); inputs such as
 * "<noinput>" in the original data are kept verbatim, as there.
 */
export function alpacaPrompt(instruction: string, input: string): string {
  // Concatenation, not String.replace: "$&" and friends in the data must stay text.
  return input === ''
    ? `${ALPACA_HEAD_NO_INPUT}### Instruction:\n${instruction}\n\n### Response:\n`
    : `${ALPACA_HEAD_INPUT}### Instruction:\n${instruction}\n\n### Input:\n${input}\n\n### Response:\n`;
}

export type ChatRender = (messages: readonly ChatMessage[], options: ChatTemplateOptions) => string;

const LABEL: Record<string, string> = { system: 'System', user: 'User', assistant: 'Assistant' };

/**
 * The plain fallback for a tokenizer without a chat template (a base model):
 *   "System:\n…\n\nUser:\n…\n\nAssistant:\n…<eos>\n\n"
 * with "Assistant:\n" as the generation prompt. The EOS text (the vocabulary's
 * spelling, parsed back to the EOS id) closes every assistant turn, so the model
 * learns to stop. A model tuned this way must be prompted the same way.
 */
export function plainChatRender(tok: Tokenizer): ChatRender {
  const eos = tok.eosIds.length ? (tok.tokenText(tok.eosIds[0]) ?? '') : '';
  return (messages, { addGenerationPrompt }) => {
    let s = '';
    for (const m of messages) s += `${LABEL[m.role] ?? m.role}:\n${m.content}${m.role === 'assistant' ? eos : ''}\n\n`;
    return addGenerationPrompt ? `${s}Assistant:\n` : s;
  };
}
