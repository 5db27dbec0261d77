/**
 * Threat model: a memory disclosure of the server (a core dump, a heap snapshot, a swap file) or
 * its memory per connected client. Once an IKE SA and its child are up, the server keeps only
 * what it still needs: SKEYID_d, SKEYID_a, the cipher key and the last CBC block. Not SKEYID or
 * SKEYID_e (wiped once HASH_I/HASH_R are checked), the DH private key, g^xy,
 * the nonces or the peer's SA payload of phase 1; not the nonces, PFS secret or DH key of a
 * finished Quick Mode (they make the child's KEYMAT); not a copy of the whole request it may
 * have to answer again (a digest is enough); and not its last phase-1 message once the peer
 * has shown, by a protected Quick Mode, that it received it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { IkeSa } from "../../src/ike/ike-sa.js";
import { addressSelector } from "../../src/ike/index.js";
import { SimNetwork, Simulator } from "../fakes/sim.js";
import { PSK, SimIkePeer } from "../scenarios/ike-sim.js";

const SERVER = "203.0.113.5";
const L2TP = (address: string) => addressSelector(address, 17, 1701);

function connect(pfsGroup: number) {
  const sim = new Simulator(3);
  const net = new SimNetwork(sim);
  const nat = net.nat("198.51.100.1");
  const server = new SimIkePeer(sim, net.host(SERVER), { psks: [{ secret: PSK }] }, 1);
  const client = new SimIkePeer(
    sim,
    net.host("192.0.2.2", nat.inside),
    {
      psks: [{ secret: PSK }],
      phase1: { offers: [{ encryption: "aes-cbc", keyBits: 128, hash: "sha1", group: 14 }] },
      ...(pfsGroup ? { phase2: { pfsGroup } } : {}),
    },
    2,
  );
  client.initiate({
    peer: { address: SERVER, port: 500 },
    phase2: { mode: "transport", local: L2TP("192.0.2.2"), remote: L2TP(SERVER) },
  });
  assert.ok(
    sim.runUntilTrue(() => client.installed.size > 0 && server.installed.size > 0, 60_000),
    "the child SA comes up",
  );
  sim.runFor(1_000);
  for (const c of [...client.installed.values(), ...server.installed.values()])
    assert.equal(c.suite.pfsGroup, pfsGroup, "PFS as asked");
  return { server, client };
}

function onlySa(peer: SimIkePeer): IkeSa {
  const sas = [...peer.engine.sas.values()];
  assert.equal(sas.length, 1);
  return sas[0]!;
}

describe("what an established IKE SA keeps", () => {
  for (const pfs of [0, 14]) {
    it(`no phase-1 DH key, g^xy, nonces or SAi_b on either side (${pfs ? "PFS" : "no PFS"})`, () => {
      const { server, client } = connect(pfs);
      for (const sa of [onlySa(server), onlySa(client)]) {
        assert.equal(sa.state, "ESTABLISHED");
        for (const f of ["dh", "gxi", "gxr", "gxy", "ni", "nr", "saiB", "idiB", "pending"] as const)
          assert.equal(sa[f], undefined, `${sa.role}: ${f}`);
        assert.ok(sa.keys?.skeyidD && sa.keys.skeyidA && sa.keys.encKey && sa.iv, sa.role);
        assert.equal(sa.keys.skeyid, undefined, `${sa.role}: SKEYID`);
        assert.equal(sa.keys.skeyidE, undefined, `${sa.role}: SKEYID_e`);
      }
    });

    it(`a finished Quick Mode keeps no nonce, PFS secret or DH key, and no copy of a request (${pfs ? "PFS" : "no PFS"})`, () => {
      const { server, client } = connect(pfs);
      for (const sa of [onlySa(server), onlySa(client)]) {
        const done = [...sa.quick.values()];
        assert.equal(done.length, 1, `${sa.role}: the exchange lingers for retransmissions`);
        const ex = done[0]!;
        assert.equal(ex.state, "DONE");
        for (const f of ["ni", "nr", "gqmxy", "dh", "pending"] as const)
          assert.equal(ex[f], undefined, `${sa.role}: ${f}`);
        assert.equal(ex.lastIn?.length, 32, `${sa.role}: the last request in is a digest`);
      }
    });
  }

  it("the server drops its copy of MM6 once the peer's QM1 shows it has it", () => {
    const { server } = connect(0);
    const sa = onlySa(server);
    assert.equal(sa.role, "responder");
    assert.equal(sa.lastOut, undefined);
    assert.equal(sa.lastIn?.length, 32);
  });
});
