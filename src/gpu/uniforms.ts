// Uniform parameter structs without hand-counted byte offsets. A kernel wrapper
// declares its fields once, in the order of the WGSL struct; offsets follow the
// WGSL alignment rules (scalars 4, vec2 8, vec4 16, struct size a multiple of 16
// for uniform address space).

export type UniformType = 'u32' | 'i32' | 'f32' | 'vec2u' | 'vec4u' | 'vec4f';
const LAYOUT: Record<UniformType, { size: number; align: number; lanes: number }> = {
  u32: { size: 4, align: 4, lanes: 1 },
  i32: { size: 4, align: 4, lanes: 1 },
  f32: { size: 4, align: 4, lanes: 1 },
  vec2u: { size: 8, align: 8, lanes: 2 },
  vec4u: { size: 16, align: 16, lanes: 4 },
  vec4f: { size: 16, align: 16, lanes: 4 },
};

export type UniformValues<F extends Record<string, UniformType>> = {
  [K in keyof F]: F[K] extends 'u32' | 'i32' | 'f32' ? number : number[];
};

export class UniformStruct<F extends Record<string, UniformType>> {
  readonly offsets: Record<keyof F, number>;
  readonly byteSize: number;

  constructor(readonly fields: F) {
    let off = 0;
    let maxAlign = 4;
    const offsets = {} as Record<keyof F, number>;
    for (const [name, type] of Object.entries(fields) as [keyof F, UniformType][]) {
      const { size, align } = LAYOUT[type];
      off = Math.ceil(off / align) * align;
      offsets[name] = off;
      off += size;
      maxAlign = Math.max(maxAlign, align);
    }
    this.offsets = offsets;
    this.byteSize = Math.ceil(off / 16) * 16; // uniform buffers need 16-byte struct size
  }

  pack(values: UniformValues<F>): ArrayBuffer {
    const buf = new ArrayBuffer(this.byteSize);
    const dv = new DataView(buf);
    for (const [name, type] of Object.entries(this.fields) as [keyof F & string, UniformType][]) {
      const v = values[name];
      const lanes = Array.isArray(v) ? v : [v];
      if (lanes.length !== LAYOUT[type].lanes) throw new RangeError(`uniform ${name}: expected ${LAYOUT[type].lanes} value(s), got ${lanes.length}`);
      lanes.forEach((x, i) => {
        const o = this.offsets[name] + 4 * i;
        if (type === 'f32' || type === 'vec4f') dv.setFloat32(o, x, true);
        else if (type === 'i32') dv.setInt32(o, x, true);
        else {
          if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new RangeError(`uniform ${name}: ${x} is not a u32`);
          dv.setUint32(o, x, true);
        }
      });
    }
    return buf;
  }
}
