import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { detectNat, type Endpoint, natdToSend } from "./nat-detect.js";

// A stand-in hasher with the RFC 3947 input layout (CKY-I | CKY-R | IP | Port) over SHA-1;
// the real one is crypto/natd (checked against vectors there). Here only equality matters.
const ckyI = Buffer.from("0102030405060708", "hex");
const ckyR = Buffer.from("1112131415161718", "hex");
function hasher(ep: Endpoint): Buffer {
  const ip = Buffer.from(ep.address.split(".").map(Number));
  const port = Buffer.alloc(2);
  port.writeUInt16BE(ep.port);
  return createHash("sha1")
    .update(Buffer.concat([ckyI, ckyR, ip, port]))
    .digest();
}

const client: Endpoint = { address: "192.0.2.2", port: 500 };
const natOutside: Endpoint = { address: "198.51.100.1", port: 40001 };
const server: Endpoint = { address: "198.51.100.2", port: 500 };
const serverPrivate: Endpoint = { address: "203.0.113.2", port: 500 };

test("no NAT: both hashes match", () => {
  const sent = natdToSend(hasher, server, client); // client -> server
  const r = detectNat(sent, hasher, server, client);
  assert.deepEqual(r, {
    ok: true,
    value: { localBehindNat: false, peerBehindNat: false, anyNat: false },
  });
});

test("client behind NAT: the server sees the peer behind NAT, the client sees itself", () => {
  const fromClient = natdToSend(hasher, server, client);
  const atServer = detectNat(fromClient, hasher, server, natOutside);
  assert.ok(atServer.ok && atServer.value.peerBehindNat && !atServer.value.localBehindNat);
  const fromServer = natdToSend(hasher, natOutside, server);
  const atClient = detectNat(fromServer, hasher, client, server);
  assert.ok(atClient.ok && atClient.value.localBehindNat && !atClient.value.peerBehindNat);
});

test("server behind a port forward: honest NAT-D shows the server NATed to the client", () => {
  // Client sends to the public address; the forward delivers to the server's private one.
  const fromClient = natdToSend(hasher, server, client);
  const atServer = detectNat(fromClient, hasher, serverPrivate, client);
  assert.ok(atServer.ok && atServer.value.localBehindNat && !atServer.value.peerBehindNat);
  const honest = natdToSend(hasher, client, serverPrivate);
  const atClient = detectNat(honest, hasher, client, server);
  assert.ok(atClient.ok && atClient.value.peerBehindNat, "a Windows client would refuse here");
});

test("Windows-friendly responder: client sees itself NATed and the server not", () => {
  const fromClient = natdToSend(hasher, server, client);
  const friendly = natdToSend(hasher, client, serverPrivate, {
    initiatorHashes: fromClient,
    hideOwnNat: true,
    forcePeerNat: true,
  });
  const atClient = detectNat(friendly, hasher, client, server);
  assert.deepEqual(atClient, {
    ok: true,
    value: { localBehindNat: true, peerBehindNat: false, anyNat: true },
  });
});

test("fewer than two NAT-D payloads is a typed error", () => {
  const r = detectNat([hasher(server)], hasher, server, client);
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error.code, "OAK_E_NATD_MISSING");
  assert.equal(detectNat([], hasher, server, client).ok, false);
});
