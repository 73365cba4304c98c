#!/usr/bin/env node
// The `gptoss` bin. Only the huge-page supervisor is loaded before deciding: a process that
// re-executes itself (huge-pages.ts) loads none of the commands (nor onnxruntime).
import { superviseWithHugePages } from './huge-pages.js';

if (!superviseWithHugePages()) await import('./gptoss.js');
