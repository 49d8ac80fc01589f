/**
 * Every conformance check, in PROTOCOL.md order. Each check names the numbered
 * requirements it decides; requirements.ts lists every requirement, including those no
 * check can decide over a wire (and says why).
 */
import type { Check } from './check.js';
import { argChecks } from './checks/args.js';
import { frameChecks } from './checks/frames.js';
import { roomChecks } from './checks/rooms.js';
import { serverChecks } from './checks/server.js';
import { transportChecks } from './checks/transport.js';

/** All checks of the runner. */
export const CHECKS: readonly Check[] = [...transportChecks, ...frameChecks, ...argChecks, ...roomChecks, ...serverChecks];
