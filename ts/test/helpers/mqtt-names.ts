/**
 * Unique names for the MQTT conformance suite (helpers/mqtt-target.ts):
 * each test uses its own client ids and topics on a shared broker.
 */
let seq = 0;
const runId = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
/** A client id unique in this run (23 chars max, as 3.1 requires). */
export function uid(prefix = 'c'): string {
  seq += 1;
  return `${prefix.slice(0, 8)}-${runId}-${seq}`.slice(0, 23);
}
/** A topic unique in this run, under test/. */
export function utopic(name = 't'): string {
  seq += 1;
  return `test/${runId}/${seq}/${name}`;
}
