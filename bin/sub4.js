#!/usr/bin/env node
// Entry of the `sub4` command: runs the TypeScript CLI through tsx's loader, so
// the engine's sources run as they are, without a build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/sub4.ts');
