/** wsq/1: frames (zod schemas and their types), codes, and the codec. */
export * from './frames.js';
export * from './codes.js';
export * from './codec.js';
export * from './errors.js';
