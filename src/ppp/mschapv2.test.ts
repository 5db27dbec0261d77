import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { fromHex } from "../base/bytes.js";
import {
  challengeHash,
  chapMd5Response,
  desEncryptBlock,
  desKeyFrom7,
  generateAuthenticatorResponse,
  generateNtResponse,
  hashNtPasswordHash,
  ntPasswordHash,
  stripDomain,
} from "./mschapv2.js";

// Source: RFC 2759 §9.2 "Hash Example" (the worked MS-CHAPv2 example).
const userName = "User";
const password = "clientPass";
const authenticatorChallenge = fromHex("5B 5D 7C 7D 7B 3F 2F 3E 3C 2C 60 21 32 26 26 28");
const peerChallenge = fromHex("21 40 23 24 25 5E 26 2A 28 29 5F 2B 3A 33 7C 7E");

test("MS-CHAPv2: RFC 2759 §9.2 worked example, every intermediate value", () => {
  assert.deepEqual(
    Buffer.from(password, "utf16le"),
    fromHex("63 00 6C 00 69 00 65 00 6E 00 74 00 50 00 61 00 73 00 73 00"),
  );
  assert.deepEqual(
    challengeHash(peerChallenge, authenticatorChallenge, userName),
    fromHex("D0 2E 43 86 BC E9 12 26"),
  );
  const passwordHash = ntPasswordHash(password);
  assert.deepEqual(passwordHash, fromHex("44 EB BA 8D 53 12 B8 D6 11 47 44 11 F5 69 89 AE"));
  const nt = generateNtResponse(authenticatorChallenge, peerChallenge, userName, password);
  assert.deepEqual(
    nt,
    fromHex("82 30 9E CD 8D 70 8B 5E A0 8F AA 39 81 CD 83 54 42 33 11 4A 3D 85 D6 DF"),
  );
  assert.deepEqual(
    hashNtPasswordHash(passwordHash),
    fromHex("41 C0 0C 58 4B D2 D9 1C 40 17 A2 A1 2F A5 9F 3F"),
  );
  const ar = generateAuthenticatorResponse(
    password,
    nt,
    peerChallenge,
    authenticatorChallenge,
    userName,
  );
  assert.equal(
    `S=${ar.toString("hex").toUpperCase()}`,
    "S=407A5589115FD0D6209F510FE9C04566932CDA56",
  );
});

test("MS-CHAPv2: ChallengeHash strips a DOMAIN\\ prefix (RFC 2759 §8.2)", () => {
  assert.equal(stripDomain("CORP\\User"), "User");
  assert.deepEqual(
    challengeHash(peerChallenge, authenticatorChallenge, "CORP\\User"),
    fromHex("D0 2E 43 86 BC E9 12 26"),
  );
});

test("DES as 3DES-EDE with K1=K2=K3: published single-DES vectors", () => {
  // Source: FIPS 81 / NBS "Now is the time for all" example: key 0123456789ABCDEF,
  // plaintext 4E6F772069732074 ("Now is t") -> 3FA40E8A984D4815.
  assert.deepEqual(
    desEncryptBlock(fromHex("0123456789ABCDEF"), fromHex("4E6F772069732074")),
    fromHex("3FA40E8A984D4815"),
  );
  // Source: J. Orlin Grabbe, "The DES Algorithm Illustrated": key 133457799BBCDFF1,
  // plaintext 0123456789ABCDEF -> 85E813540F0AB405.
  assert.deepEqual(
    desEncryptBlock(fromHex("133457799BBCDFF1"), fromHex("0123456789ABCDEF")),
    fromHex("85E813540F0AB405"),
  );
});

test("DES key expansion 7 -> 8 octets sets odd parity", () => {
  const k = desKeyFrom7(fromHex("1234ABCDEF5678"));
  for (const b of k) {
    let ones = 0;
    for (let i = 0; i < 8; i++) ones += (b >> i) & 1;
    assert.equal(ones % 2, 1);
  }
  // Grabbe's key 133457799BBCDFF1 (odd parity) with its 8 parity bits removed is the 7-bit
  // groups 0001001 0011010 0101011 0111100 1001101 1011110 1101111 1111000 = 12695BC9B7B7F8.
  assert.deepEqual(
    desKeyFrom7(fromHex("12 69 5B C9 B7 B7 F8")),
    fromHex("13 34 57 79 9B BC DF F1"),
  );
});

test("CHAP-MD5: response equals `openssl dgst -md5` over Identifier|secret|Challenge (RFC 1994 §4.1)", () => {
  const id = 0x2a;
  const secret = Buffer.from("vmepass");
  const challenge = fromHex("0123456789abcdeffedcba9876543210");
  const input = Buffer.concat([Buffer.from([id]), secret, challenge]);
  const out = execFileSync("openssl", ["dgst", "-md5", "-r"], { input }).toString();
  const expected = out.split(" ")[0] ?? "";
  assert.match(expected, /^[0-9a-f]{32}$/);
  assert.equal(chapMd5Response(id, secret, challenge).toString("hex"), expected);
});
