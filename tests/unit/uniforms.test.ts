import { describe, expect, it } from 'vitest';
import { UniformStruct } from '../../src/gpu/uniforms.ts';

describe('UniformStruct', () => {
  it('follows WGSL alignment and pads to 16 bytes', () => {
    const s = new UniformStruct({ a: 'u32', b: 'f32', c: 'vec4f', d: 'i32', e: 'vec2u' });
    expect(s.offsets).toEqual({ a: 0, b: 4, c: 16, d: 32, e: 40 });
    expect(s.byteSize).toBe(48);
    const dv = new DataView(s.pack({ a: 7, b: 0.5, c: [1, 2, 3, 4], d: -3, e: [9, 10] }));
    expect(dv.getUint32(0, true)).toBe(7);
    expect(dv.getFloat32(4, true)).toBe(0.5);
    expect(dv.getFloat32(28, true)).toBe(4);
    expect(dv.getInt32(32, true)).toBe(-3);
    expect(dv.getUint32(44, true)).toBe(10);
  });
  it('rejects values that do not fit the field', () => {
    const s = new UniformStruct({ n: 'u32', v: 'vec4u' });
    expect(() => s.pack({ n: -1, v: [0, 0, 0, 0] })).toThrow(/not a u32/);
    expect(() => s.pack({ n: 1.5, v: [0, 0, 0, 0] })).toThrow(/not a u32/);
    expect(() => s.pack({ n: 1, v: [0, 0] })).toThrow(/expected 4/);
  });
});
