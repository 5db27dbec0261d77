/** PPP wire codecs as carried in L2TP: frame, LCP, IPCP, IPV6CP, PAP, CHAP, MS-CHAPv2. */
export * from "./frame.js";
export * from "./control.js";
export * from "./lcp.js";
export * from "./ipcp.js";
export * from "./auth.js";
