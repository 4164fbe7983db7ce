import type { Message } from './message.ts';

/** A Will Message and its MQTT 5 Will Delay Interval (§3.1.3.2). */
export interface Will {
  message: Message;
  delayS: number;
}
