/**
 * Oakley's IKEv1 engine — public API (keep stable; add freely).
 *
 * ```ts
 * const ike = new IkeEngine(ikeConfig({ localAddress: "198.51.100.2", psks: [{ secret: "…" }] }),
 *                           { logger: hub.logger("ike"), counters });
 * // UDP 500 / 4500 receive loop (4500: after classifyNattDatagram said "ike", marker stripped):
 * perform(ike.handleDatagram({ data, local: { address, port: 4500 }, remote: rinfo }, now));
 * // one timer, re-armed from the last "timer" action of every batch:
 * perform(ike.handleTimer(now));
 * // client side: Main Mode + Quick Mode for L2TP (transport, UDP 1701)
 * perform(ike.initiate({ peer: { address: server, port: 500 },
 *   phase2: { mode: "transport", local: addressSelector(me, 17, 1701), remote: addressSelector(server, 17, 1701) } }, now));
 * // ESP data plane feedback:
 * perform(ike.handleEspEvent({ kind: "soft-expire", childId }, now));
 * perform(ike.peerMoved(inboundSpi, newEndpoint, now));   // authenticated ESP from a new NAT mapping
 * ```
 * `perform` sends `send` actions (prefixing the 4-octet non-ESP marker when `from.port` is
 * 4500), sends `keepalive` (0xFF on 4500), installs/updates/removes child SAs in src/esp, logs
 * events and arms its timer at `timer.at`. See types.ts for every action and event, config.ts
 * for the configuration (PSK lookup rules, NAT-T, DPD, retransmission), engine.ts for the
 * behaviour (rekeying, INITIAL-CONTACT, NAT mapping changes).
 */
export {
  type ChildSaInfo,
  type IkeEngineDeps,
  IkeEngine,
  type IkeSaInfo,
} from "./engine.js";
export { REKEY_OVERLAP_MS, suiteName } from "./child-sas.js";
export {
  AGGRESSIVE_MODE_WARNING,
  type AuthMethod,
  authMethodsOf,
  type CertificateConfig,
  type ChildDecision,
  type ChildProposal,
  DEFAULT_PHASE1_OFFERS,
  DEFAULT_PHASE2_OFFERS,
  type IkeConfig,
  type IkeConfigInput,
  ikeConfig,
  phase1Offers,
  type PskEntry,
} from "./config.js";
export { IkeErrorCode, type IkeFailure } from "./errors.js";
export {
  FIPS_GROUPS,
  FIPS_MIN_PSK_BYTES,
  fipsGroup,
  fipsPhase1,
  fipsPhase2,
  fipsPskProblem,
} from "./fips.js";
export { addressSelector, idText, selectorText } from "./identity.js";
export type { Phase1Offer, Phase2Offer } from "./proposals.js";
export type {
  EspCipher,
  EspIntegrity,
  EspMode,
  NattMethod,
  Phase1Suite,
  Phase2Suite,
} from "./suites.js";
export type {
  ChildLifetimes,
  ChildRequest,
  ChildSaInstall,
  ChildSaKeys,
  Endpoint,
  EspLifetimeEvent,
  IkeAction,
  IkeDatagram,
  IkeEvent,
  IkeRole,
  IkeStage,
  InitiateRequest,
  PeerOffer,
  TrafficSelector,
} from "./types.js";
export {
  describePhase1Offer,
  describePhase2Offer,
  LEGACY_GROUPS,
  type OfferedPhase1,
  type OfferedPhase2,
} from "./offer.js";
