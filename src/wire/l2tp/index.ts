/**
 * L2TPv2 wire codecs (RFC 2661): header/framing (header.ts), AVPs (avp.ts), hidden AVPs
 * (hidden.ts, §4.3) and typed control message bodies (control.ts). Pure: no I/O, clock or logs.
 */
export * from "./avp.js";
export * from "./control.js";
export * from "./header.js";
export * from "./hidden.js";
