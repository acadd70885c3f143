import { getRandomValues, randomUUID } from '../internal/random.js';

// The web crypto global: random values only (no `subtle`).
export const crypto = { getRandomValues, randomUUID };
