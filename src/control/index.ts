/**
 * Public API of control/: the versioned, authenticated management protocol.
 * Other areas import from here only.
 *
 * Daemon side (src/daemon implements ControlTarget and starts these):
 *
 *   const ops = new StorePolicyOps(store);                     // policy/users over the store
 *   const target: ControlTarget = {
 *     status, listSas, deleteSa, setLogLevel, logLevels, metrics,  // see types.ts for records
 *     policy: ops,                                              // omit on a client-role daemon
 *   };
 *   const ctl = await ControlServer.start({
 *     target, software: "oakley 0.1.0", counters, logger: hub.logger("ctl"),
 *     unix: { path: DEFAULT_SOCKET_PATH },                      // 0600; dir created 0700
 *     tls: { host: "0.0.0.0", port: DEFAULT_TLS_PORT, key, cert,   // optional remote access
 *            clientCa, tokens: () => readTokenFile(path) ... },
 *   });
 *   const m = await startMetricsServer(target, "127.0.0.1:9500");  // Prometheus /metrics
 *   ...; await ctl.close(); await m.close();
 *
 * Records carry algorithm NAMES: build them with ikeAlgorithmNames / espAlgorithmNames /
 * encapsulationName (names.ts, through src/registry) and ids with ikeSaId / childSaId.
 * Counters in records are bigint. Tokens: generateToken(name) -> {token (show once), record
 * (store: JSON line in the token file)}; checkToken(token, records).
 *
 * Client side (cli/, monitor/):
 *
 *   const c = await ControlClient.connect({ kind: "unix", path })          // or
 *   const c = await ControlClient.connect({ kind: "tls", host, port, ca, token } | {..., cert, key});
 *   if (!c.ok) -> c.error.message names the problem and the fix (not running, permission,
 *                 version mismatch naming both versions and what to upgrade, auth, TLS trust)
 *   await c.value.status() / listSas() / deleteSa(id) / setLogLevel(g, l) / metrics()
 *   c.value.policyOps()  -> AsyncPolicyOps (same operations as StorePolicyOps, through the daemon)
 *
 * Protocol: JSON lines {v, id, method, params} / {v, id, result | error}; hello first; see
 * protocol.ts. Error codes: ControlErrorCode (OAK_E_CTL_*), plus policy-store codes passed through.
 */
export {
  type AsyncPolicyOps,
  asyncOps,
  type ClientOptions,
  ControlClient,
  type ControlEndpoint,
  connectError,
  describeEndpoint,
} from "./client.js";
export {
  checkToken,
  generateToken,
  hashToken,
  parseTokenFile,
  readTokenFile,
  type TokenRecord,
} from "./auth.js";
export {
  bearerToken,
  exposureWarning,
  type HostPolicy,
  hostAllowed,
  isLoopbackHost,
} from "./http-guard.js";
export { decodeFailureReport, decodeMetrics, decodeSaList, decodeStatus } from "./decode.js";
export { type ControlError, ControlErrorCode, type ControlIssue, controlError } from "./errors.js";
export {
  DEFAULT_METRICS_LISTEN,
  type MetricsAccess,
  type MetricsServer,
  PROMETHEUS_CONTENT_TYPE,
  parseListen,
  renderMetrics,
  startMetricsServer,
} from "./metrics.js";
export {
  childSaId,
  type EspAlgorithmNumbers,
  encapsulationName,
  espAlgorithmNames,
  type IkeAlgorithmNumbers,
  ikeAlgorithmNames,
  ikeSaId,
  spiText,
} from "./names.js";
export {
  fromStoreError,
  parsePolicyFile,
  StorePolicyOps,
  type StorePolicyOpsOptions,
} from "./ops.js";
export {
  DEFAULT_MAX_REQUEST_LINE,
  type HelloResult,
  negotiate,
  PROTOCOL_HISTORY,
  PROTOCOL_MAX,
  PROTOCOL_MIN,
  type VersionRange,
} from "./protocol.js";
export {
  ControlServer,
  type ControlServerOptions,
  type ControlTlsOptions,
  DEFAULT_SOCKET_PATH,
  DEFAULT_TLS_PORT,
} from "./server.js";
export * from "./types.js";
