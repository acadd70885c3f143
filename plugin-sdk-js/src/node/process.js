// `process`: the same minimal object the `process` global gets.
import { process } from '../inject/process.js';

export const env = process.env;
export const nextTick = process.nextTick;
export default process;
