// `sub4 convert <model> --type T --out file.gguf`: write a GGUF llama.cpp loads.
import type { Command } from './args.ts';
import { UsageError } from './args.ts';
import { openModelPath } from '../io/model.node.ts';
import { convertToGguf } from '../export/convert/convert.ts';
import { CONVERT_TYPES, isConvertType } from '../export/convert/type_policy.ts';
import { fileSink } from '../io/sink.node.ts';
import { GgmlType } from '../quant/formats.ts';

export const convertCommand: Command = {
  name: 'convert',
  summary: 'write a GGUF (F32, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) from a Hugging Face folder or another GGUF',
  usage: `usage: sub4 convert <file.gguf | hf-folder> --type ${CONVERT_TYPES.join('|')} --out <file.gguf> [--name NAME] [--json]`,
  options: { type: { type: 'string' }, out: { type: 'string', short: 'o' }, name: { type: 'string' }, json: { type: 'boolean' } },
  async run(values, positionals) {
    const type = String(values.type ?? '');
    if (positionals.length !== 1 || !values.out || !isConvertType(type)) throw new UsageError(this.usage);
    const model = await openModelPath(positionals[0]);
    const sink = await fileSink(String(values.out));
    try {
      const res = await convertToGguf(model, sink, {
        type,
        name: values.name as string | undefined,
        onTensor: (i, n, name, t) => {
          if (!values.json) process.stderr.write(`\r[${i + 1}/${n}] ${name} → ${GgmlType[t]}`.padEnd(60));
        },
      });
      await sink.commit();
      if (!values.json) process.stderr.write('\n');
      const counts: Record<string, number> = {};
      for (const t of res.tensors) counts[t.type] = (counts[t.type] ?? 0) + 1;
      if (values.json) console.log(JSON.stringify({ out: values.out, bytes: res.bytes, tensorTypes: counts }));
      else console.log(`wrote ${values.out}: ${res.bytes.toLocaleString('en-US')} bytes, ${Object.entries(counts).map(([t, n]) => `${n} ${t}`).join(', ')}`);
      return 0;
    } catch (e) {
      await sink.abort();
      throw e;
    } finally {
      await model.close();
    }
  },
};
