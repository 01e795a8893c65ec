// The layer rules of sub4's source tree, checked by dependency-cruiser inside
// `npm test` (npm run check:layers). docs/architecture.md draws the same order.
//
// Bottom to top; a layer may import only the layers listed for it. Folders of
// the engine never import React or the page's layers. The page (state, ui)
// talks to the engine through the worker's typed protocol: it may name engine
// types, and call only the pure planning modules listed in PAGE_CALLS.

/** layer → the layers it may import (besides itself). */
const LAYERS = {
  base: [], //                      root error classes: imports nothing
  arch: ['base'], //                what a model family is: config, names, parameter table, RoPE
  quant: ['base', 'arch'], //       ggml block table, QTensor, quantizers
  ref: ['base', 'arch', 'quant'], // f64 CPU references of the kernels
  io: ['base', 'arch', 'quant'], // containers: GGUF, safetensors, tokenizers, HF folders, readers of other tools' files
  hub: ['base'], //                 the Hugging Face Hub over HTTP: listing, resumable downloads, the caches
  gpu: ['base', 'arch', 'quant', 'ref'], // device, buffers, pipelines, kernels
  model: ['base', 'arch', 'quant', 'io', 'gpu'], // forward, backward, generate, planner, trainable
  train: ['base', 'arch', 'quant', 'io', 'gpu', 'model'], // data, trainer, optimizer, state
  export: ['base', 'arch', 'quant', 'io', 'gpu', 'model', 'train'], // every writer of a result
  cli: ['base', 'arch', 'quant', 'ref', 'io', 'hub', 'gpu', 'model', 'train', 'export'],
  worker: ['base', 'arch', 'quant', 'ref', 'io', 'hub', 'gpu', 'model', 'train', 'export'],
  state: ['worker'],
  ui: ['state', 'worker'],
};
const ENGINE = ['base', 'arch', 'quant', 'ref', 'io', 'hub', 'gpu', 'model', 'train', 'export'];
const PAGE = ['state', 'ui'];
/** Engine modules the page may call on the main thread: pure functions of plain facts, no GPU, no files; and the error classes. */
const PAGE_CALLS = ['src/export/plan\\.ts$', '^src/base/'];

const under = (layers) => `^src/(${layers.join('|')})/`;
const all = Object.keys(LAYERS);

const forbidden = [
  ...all.map((layer) => {
    const others = all.filter((l) => l !== layer && !LAYERS[layer].includes(l) && !(PAGE.includes(layer) && ENGINE.includes(l)));
    return {
      name: `layer-${layer}`,
      comment: `src/${layer} may import only ${LAYERS[layer].map((l) => `src/${l}`).join(', ') || 'nothing else in src'}${PAGE.includes(layer) ? ' (and engine types)' : ''}: imports go down the layers (docs/architecture.md)`,
      severity: 'error',
      from: { path: `^src/${layer}/` },
      to: { path: under(others) },
    };
  }),
  {
    name: 'page-calls-engine',
    comment: 'the page (src/state, src/ui) reaches the engine through the worker protocol: it may import engine types, and call only the pure planning modules in PAGE_CALLS',
    severity: 'error',
    from: { path: under(PAGE) },
    to: { path: under(ENGINE), pathNot: PAGE_CALLS, dependencyTypesNot: ['type-only'] },
  },
  {
    name: 'page-through-protocol',
    comment: 'of the worker, the page imports only the typed protocol and its client',
    severity: 'error',
    from: { path: under(PAGE) },
    to: { path: '^src/worker/', pathNot: '^src/worker/(protocol[a-z_]*|client|errors)\\.ts$' },
  },
  {
    name: 'engine-no-page',
    comment: 'the engine never imports React or the page',
    severity: 'error',
    from: { path: under([...ENGINE, 'worker', 'cli']) },
    to: { path: ['^src/(state|ui)/', '^src/main\\.tsx$', 'node_modules/(react|react-dom|zustand|uplot)/'] },
  },
  {
    name: 'no-circular',
    comment: 'no import circles, type-only imports included (zustand slices in src/state may share the store type)',
    severity: 'error',
    from: { pathNot: '^src/state/' },
    to: { circular: true },
  },
  {
    name: 'not-to-unresolvable',
    comment: 'every import resolves to a file',
    severity: 'error',
    from: {},
    to: { couldNotResolve: true },
  },
];

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: ['^src/', 'node_modules/(react|react-dom|zustand|uplot)/'],
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
