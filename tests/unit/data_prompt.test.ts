// A typed prompt in the layout the data was rendered in (src/train/data/prompt.ts),
// with SmolLM2-135M-Instruct's real tokenizer and chat template: the training
// samples and Generate's chat mode prompt a chat model the way it was trained.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { tokenizerFromHf } from '../../src/io/tokenizer/hf.ts';
import { DatasetError } from '../../src/train/data/errors.ts';
import { promptIds, promptText } from '../../src/train/data/prompt.ts';
import { alpacaPrompt } from '../../src/train/data/templates.ts';
import { fixture } from '../helpers/fixtures.ts';

const dir = fixture('tokenizers/SmolLM2-135M-Instruct');

describe.skipIf(!dir)('promptIds', () => {
  const json = dir ? readFileSync(join(dir, 'tokenizer.json'), 'utf8') : '';
  const config = dir ? readFileSync(join(dir, 'tokenizer_config.json'), 'utf8') : '{}';
  const tok = tokenizerFromHf({ tokenizerJson: json, tokenizerConfig: config, name: 'SmolLM2-135M-Instruct' });
  const noTemplate = JSON.parse(config) as Record<string, unknown>;
  delete noTemplate.chat_template;
  const base = tokenizerFromHf({ tokenizerJson: json, tokenizerConfig: JSON.stringify(noTemplate), name: 'no-template' });

  test('chat: one user turn through the chat template, ending in the assistant header', () => {
    const ids = promptIds(tok, 'Hi there', 'chat');
    const text = tok.decode(ids);
    expect(text).toBe('<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n');
    // The control tokens are single ids, as in training (the render is parsed for specials).
    expect(ids.filter((id) => tok.tokenText(id) === '<|im_start|>')).toHaveLength(3);
  });

  test('instruction: the Alpaca template; text: as typed', () => {
    expect(tok.decode(promptIds(tok, 'Name a colour.', 'instruction'))).toBe(alpacaPrompt('Name a colour.', ''));
    expect(promptText(tok, 'Name a colour.', 'instruction')).toBe(alpacaPrompt('Name a colour.', ''));
    // The text shown for a chat prompt is the render itself (SmolLM2's BOS is its <|im_start|>: decoding ids and
    // dropping BOS would lose the first control token).
    expect(promptText(tok, 'Hi there', 'chat')).toBe(tok.decode(promptIds(tok, 'Hi there', 'chat')));
    expect(promptIds(tok, 'Once upon a time', 'text')).toEqual(tok.encode('Once upon a time', { addBos: true }));
  });

  test('chat on a tokenizer without a template: refused by name, or the plain layout when asked', () => {
    expect(() => promptIds(base, 'Hi', 'chat', { what: 'the sample prompt' })).toThrow(DatasetError);
    expect(() => promptIds(base, 'Hi', 'chat', { what: 'the sample prompt' })).toThrow(/the sample prompt: .*no chat template/);
    expect(base.decode(promptIds(base, 'Hi', 'chat', { plainChat: true }))).toBe('User:\nHi\n\nAssistant:\n');
  });
});
