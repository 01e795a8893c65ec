// stories260K with a large header: the same metadata and tensors, plus `items`
// extra metadata entries of `itemBytes` bytes each (UINT8 arrays under
// sub4.test.padding.N, which every reader skips as unknown keys). A big header
// is what a large vocabulary gives a real GGUF (a 256k-token tokenizer is
// several MiB of strings); here it makes the header reader take one slice per
// entry, so a load reports many progress steps and can be cancelled between them.
import { readGguf, readTensorBytes } from '../../src/io/gguf/reader.ts';
import { GgufValueType, type GgufKv } from '../../src/io/gguf/types.ts';
import { writeGguf } from '../../src/io/gguf/writer.ts';
import { fileSink } from '../../src/io/sink.node.ts';
import { fileSource } from '../../src/io/source.node.ts';

/** Write the padded copy of `src` to `out`; returns its size in bytes and where its header ends. */
export async function writePaddedGguf(src: string, out: string, items: number, itemBytes: number): Promise<{ bytes: number; headerEnd: number }> {
  const source = await fileSource(src);
  try {
    const g = await readGguf(source);
    const kv: [string, GgufKv][] = [...g.kv];
    for (let i = 0; i < items; i++) {
      const value = new Uint8Array(itemBytes).fill(i & 0xff);
      kv.push([`sub4.test.padding.${i}`, { type: GgufValueType.ARRAY, arrayType: GgufValueType.UINT8, value }]);
    }
    const sink = await fileSink(out);
    const specs = g.tensors.map((t) => ({ name: t.name, ne: t.ne, type: t.type }));
    const bytes = await writeGguf(sink, kv, specs, (_, i) => readTensorBytes(g, g.tensors[i]));
    await sink.commit();
    const written = await fileSource(out);
    try {
      return { bytes, headerEnd: (await readGguf(written)).dataOffset };
    } finally {
      await written.close?.();
    }
  } finally {
    await source.close?.();
  }
}
