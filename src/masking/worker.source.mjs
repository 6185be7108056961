// The masking worker when sqlwarden runs from its TypeScript sources (vitest): worker threads do not go
// through vitest's transform, so this plain-JS entry registers worker.hooks.mjs (TypeScript compiled on load
// with the `typescript` dev dependency) and then loads worker.ts. The built package never uses it: pool.js
// points piscina at the compiled worker.js next to it.
import { register } from 'node:module';

register(new URL('./worker.hooks.mjs', import.meta.url));
const worker = await import(new URL('./worker.ts', import.meta.url).href);

export default worker.default;
