#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.hugetlb=1:${GLIBC_TUNABLES} node
// Entry of the `sub4` command: runs the TypeScript CLI through tsx's loader, so
// the engine's sources run as they are, without a build step.
//
// The shebang asks glibc (≥ 2.35; older ones ignore it) to back malloc's large
// mappings with transparent huge pages. On a software adapter (SwiftShader) every
// GPU buffer is host memory that the driver zero-fills on creation: with 4 KiB
// pages, creating and filling a 1.1B model's 1.14 GB of buffers took 6.4 s here,
// most of it in page faults; with huge pages 2.6 s, and the whole load went from
// 67 to 136 MB/s (docs/load-speed.md). It must be set before the process starts —
// glibc reads tunables once — hence the shebang rather than code. Run
// `node bin/sub4.js` to go without it.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/sub4.ts');
