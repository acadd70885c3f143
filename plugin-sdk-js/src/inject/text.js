export { TextEncoder, TextDecoder } from '../internal/text.js';
