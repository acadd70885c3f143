// `events`: the `events` package (Node's EventEmitter for other platforms).
import EE from 'events/events.js';

export const EventEmitter = EE;
export const once = EE.once;
export default EE;
