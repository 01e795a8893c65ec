// Chat templates: the Jinja text a model ships (tokenizer_config.json "chat_template"
// or GGUF "tokenizer.chat_template") rendered with @huggingface/jinja, with the same
// variables transformers' apply_chat_template passes: messages, add_generation_prompt
// and the special-token strings (bos_token, eos_token, ...).
import { Template } from '@huggingface/jinja';
import { TokenizerError } from '../../base/errors.ts';
import type { ChatMessage, ChatTemplateOptions } from './types.ts';

export type ChatTemplateFn = (messages: readonly ChatMessage[], options: ChatTemplateOptions) => string;

/**
 * The template field as found in tokenizer_config.json: a string, or a list of
 * {name, template} (transformers' named templates; "default" is the chat one).
 */
export function pickChatTemplate(raw: unknown, file: string): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === 'string') return raw;
  if (Array.isArray(raw)) {
    const named = raw.filter((t): t is { name: string; template: string } =>
      typeof t === 'object' && t !== null && typeof t.name === 'string' && typeof t.template === 'string');
    if (named.length !== raw.length) throw new TokenizerError(file, 'chat_template list entries must be {name, template} strings');
    return (named.find((t) => t.name === 'default') ?? named[0])?.template;
  }
  throw new TokenizerError(file, `chat_template must be a string or a list of named templates, not ${typeof raw}`);
}

/** Parses the template once (syntax errors surface at load time) and returns a renderer. */
export function compileChatTemplate(template: string, file: string, specialTokens: Readonly<Record<string, string>>): ChatTemplateFn {
  let compiled: Template;
  try {
    compiled = new Template(template);
  } catch (e) {
    throw new TokenizerError(file, `chat template does not parse: ${(e as Error).message}`);
  }
  return (messages, options) => {
    for (const [i, m] of messages.entries()) {
      if (typeof m?.role !== 'string' || typeof m?.content !== 'string')
        throw new TokenizerError(file, `chat message ${i} needs string "role" and "content"`);
    }
    try {
      return compiled.render({
        ...specialTokens,
        messages: messages.map((m) => ({ role: m.role, content: m.content })),
        add_generation_prompt: options.addGenerationPrompt,
      });
    } catch (e) {
      throw new TokenizerError(file, `chat template failed to render: ${(e as Error).message}`);
    }
  };
}
