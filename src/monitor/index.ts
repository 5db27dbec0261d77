/**
 * Public API of monitor/: the web monitor of several Oakley daemons.
 *
 *   const specs = ["local=unix:/run/oakley/control.sock", "gw2=tls://198.51.100.1:9501?token-file=/etc/oakley/gw2.token&ca=/etc/oakley/ca.pem"]
 *     .map((s) => parseDaemonSpec(s));                 // DaemonSpec, or a message string naming the mistake
 *   const m = new Monitor({ daemons, host: "127.0.0.1", port: 9600, pollMs: 2000 });
 *   await m.start();  ...  await m.close();
 *
 * Reads daemons only through control/ (ControlClient); see server.ts and page.ts.
 */
export { monitorPage } from "./page.js";
export {
  type DaemonView,
  Monitor,
  type MonitorOptions,
  type MonitorState,
  stateJson,
} from "./server.js";
export { type DaemonSpec, parseDaemonSpec } from "./spec.js";
