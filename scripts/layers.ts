/**
 * The one-way dependency rule of DESIGN.md, as data. A folder of src/ may import only from the
 * folders listed for it (and from itself). `scripts/check-deps.ts` enforces it in `npm test`.
 *
 * Deviation from DESIGN.md, on purpose: `base/` (Result, error codes, byte helpers, brands) sits
 * below everything, so that wire/ and registry/ share one error model without depending on each
 * other's internals; `obs/` (logger, counters) is usable by every engine, but engines receive a
 * logger, they never create sinks.
 */
const base = ["base"];
const data = [...base, "registry"];
const codecs = [...data, "wire"];
const cryptoL = [...codecs, "crypto", "obs"];
const engines = [...cryptoL, "natt", "esp", "l2tp", "ppp"];

export const ALLOWED: Record<string, readonly string[]> = {
  base,
  registry: base,
  obs: data,
  wire: data,
  crypto: [...codecs, "obs"],
  natt: cryptoL,
  esp: cryptoL,
  l2tp: cryptoL,
  ppp: cryptoL,
  ike: [...engines],
  "l2tp-ipsec": [...engines],
  // RADIUS client, accounting queue and dynamic-authorization server: between the engines
  // (it reuses their codecs and crypto) and the daemon that wires it to PPP/L2TP/IPsec.
  radius: [...engines, "sqlite"],
  platform: [...data, "obs"],
  // Opening Oakley's SQLite files (policy store, profile store, accounting queue) the same way.
  sqlite: base,
  // The built-in certificate authority (`oakley pki`): certificates, CRLs, PKCS#12 files.
  pki: base,
  policy: [...engines, "ike", "sqlite"],
  control: [...engines, "ike", "policy"],
  daemon: [...engines, "ike", "l2tp-ipsec", "policy", "control", "platform", "radius"],
  monitor: [...data, "obs", "control"],
  // `oakley diagnose` (client side): probes and a diagnose-only run of the client stack.
  diagnose: [...engines, "ike", "l2tp-ipsec", "policy", "platform", "daemon"],
  cli: [
    ...engines,
    "ike",
    "l2tp-ipsec",
    "policy",
    "control",
    "platform",
    "daemon",
    "monitor",
    "radius",
    "diagnose",
    "pki",
  ],
};
