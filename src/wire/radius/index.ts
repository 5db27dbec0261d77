export * from "./auth.js";
export * from "./packet.js";
