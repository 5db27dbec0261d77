/**
 * Scenario: IKEv1 fragmentation between two Oakley engines on the simulator, with chains of
 * three certificates on 4096-bit RSA keys made by the openssl CLI (MM5/MM6 over 4 kB), across
 * a path that drops every datagram that would need IP fragmentation (SimNetwork.pathMtu).
 * Fragmentation on: Main Mode and Quick Mode complete, MM5/MM6 travel as fragments of at most
 * fragmentSize, a lossy path is healed by retransmissions that reuse the Fragment ID.
 * Fragmentation off on one side: the handshake fails, and both sides' failures say why.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { makeTestPki } from "../helpers/pki.js";
import { type IkeConfigInput, addressSelector } from "../../src/ike/index.js";
import {
  classifyVendorId,
  isFragmentCarrier,
  PayloadType,
  parseIkeFragment,
  parseIsakmpMessage,
} from "../../src/wire/isakmp/index.js";
import { SimNetwork, Simulator } from "../fakes/sim.js";
import { childPairMatches, SimIkePeer } from "./ike-sim.js";

const pki = makeTestPki();
after(() => pki.dispose());
const BITS = 4096;
pki.ca("root", "Oakley Fragment Root", "self", [], BITS);
pki.ca("inter1", "Oakley Fragment Intermediate 1", "root", [], BITS);
pki.ca("inter2", "Oakley Fragment Intermediate 2", "inter1", [], BITS);
for (const [name, san] of [
  ["server", "DNS:vpn.example,IP:198.51.100.2"],
  ["client", "DNS:client.example"],
] as const) {
  pki.add({
    name,
    subj: `/O=Oakley Test/CN=${name === "server" ? "vpn.example" : "client.example"}`,
    issuer: "inter2",
    ext: [`subjectAltName=${san}`, "keyUsage=digitalSignature"],
    bits: BITS,
  });
}
const ROOT = pki.get("root").cert;
const CHAIN = pki.get("inter2").cert + pki.get("inter1").cert;
const creds = (name: string): IkeConfigInput => ({
  certificates: {
    certificate: pki.get(name).cert + CHAIN,
    privateKey: pki.get(name).key,
    trustedCas: [ROOT],
  },
});

const SERVER = "198.51.100.2";
const CLIENT = "203.0.113.9";
const L2TP = (a: string) => addressSelector(a, 17, 1701);

function run(
  serverCfg: IkeConfigInput,
  clientCfg: IkeConfigInput,
  opts: { pathMtu?: number; loss?: number; limitMs?: number } = {},
) {
  const sim = new Simulator(11);
  const net = new SimNetwork(sim);
  net.pathMtu = opts.pathMtu;
  if (opts.loss) net.profile = { latencyMs: 5, jitterMs: 0, loss: opts.loss, duplicate: 0 };
  const server = new SimIkePeer(sim, net.host(SERVER), { ...creds("server"), ...serverCfg }, 81);
  const client = new SimIkePeer(
    sim,
    net.host(CLIENT),
    {
      phase1: { offers: [{ encryption: "aes-cbc", keyBits: 256, hash: "sha2-256", group: 14 }] },
      ...creds("client"),
      ...clientCfg,
    },
    82,
  );
  client.initiate({
    peer: { address: SERVER, port: 500 },
    phase2: { mode: "transport", local: L2TP(CLIENT), remote: L2TP(SERVER) },
  });
  sim.runUntilTrue(
    () =>
      (client.installed.size > 0 && server.installed.size > 0) ||
      (client.eventsOf("failed").length > 0 && server.eventsOf("failed").length > 0),
    opts.limitMs ?? 30_000,
  );
  return { sim, net, server, client };
}

/** The whole messages a peer sent: fragments reassembled (in order), others as they are. */
function wholeMessages(peer: SimIkePeer): Buffer[] {
  const out: Buffer[] = [];
  let parts: Buffer[] = [];
  for (const s of peer.sent()) {
    if (!isFragmentCarrier(s.data)) {
      out.push(s.data);
      continue;
    }
    const f = parseIkeFragment(s.data);
    assert.ok(f.ok);
    parts.push(Buffer.from(f.value.data));
    if (f.value.last) {
      out.push(Buffer.concat(parts));
      parts = [];
    }
  }
  return out;
}

describe("IKEv1 fragmentation (simulator, 4096-bit chains of 3 certificates)", () => {
  it("both sides on, path drops IP fragments: MM5/MM6 go as fragments and Main + Quick Mode complete", () => {
    const { net, server, client } = run({}, {}, { pathMtu: 1400 });
    assert.equal(client.eventsOf("failed").length, 0, JSON.stringify(client.eventsOf("failed")));
    assert.equal(server.eventsOf("failed").length, 0, JSON.stringify(server.eventsOf("failed")));
    const c = [...client.installed.values()][0];
    const s = [...server.installed.values()][0];
    assert.ok(c && s && childPairMatches(c, s));
    assert.equal(server.eventsOf("phase1-up")[0]?.peerId, "O=Oakley Test, CN=client.example");
    // Each side announced FRAGMENTATION (with the IKE capability bit) in MM1/MM2.
    for (const peer of [client, server]) {
      const first = parseIsakmpMessage(peer.sent()[0]!.data);
      assert.ok(first.ok && !first.value.encrypted);
      const vids = first.value.payloads.flatMap((p) =>
        p.type === PayloadType.VID ? [p.data.toString("hex")] : [],
      );
      assert.ok(
        vids.includes("4048b7d56ebce88525e7de7f00d6c2d380000000"),
        `FRAGMENTATION VID in ${vids}`,
      );
    }
    // MM5 and MM6 are over 4 kB, yet no datagram either side sent exceeds 1280 bytes of IP.
    const mm5 = wholeMessages(client)[2]!;
    const mm6 = wholeMessages(server)[2]!;
    assert.ok(mm5.length > 4096 && mm6.length > 4096, `MM5 ${mm5.length}, MM6 ${mm6.length}`);
    for (const peer of [client, server]) {
      assert.ok(peer.sent().every((m) => m.data.length + 28 <= 1280));
      assert.equal(peer.counters.get("ike_fragmented_messages_tx"), 1n);
      assert.equal(peer.counters.get("ike_fragmented_messages_rx"), 1n);
      assert.ok(peer.counters.get("ike_fragments_tx") >= 4n);
    }
    assert.equal(net.tooBig, 0);
  });

  it("a lossy path: retransmissions reuse the Fragment ID, the receiver merges both tries", () => {
    const { server, client } = run({}, {}, { pathMtu: 1400, loss: 0.15, limitMs: 120_000 });
    assert.ok(
      client.installed.size > 0 && server.installed.size > 0,
      JSON.stringify([...client.eventsOf("failed"), ...server.eventsOf("failed")]),
    );
    const ids = new Map<number, number>();
    for (const s of client.sent()) {
      if (!isFragmentCarrier(s.data)) continue;
      const f = parseIkeFragment(s.data);
      assert.ok(f.ok);
      ids.set(f.value.fragmentId, (ids.get(f.value.fragmentId) ?? 0) + 1);
    }
    assert.deepEqual([...ids.keys()], [1], "one message, one Fragment ID across retransmissions");
  });

  it("fragmentation off on the server: no VID, MM5 lost as IP fragments, both failures say why", () => {
    const { net, server, client } = run(
      { fragmentation: { enabled: false } },
      {},
      { pathMtu: 1400, limitMs: 200_000 },
    );
    assert.equal(client.installed.size + server.installed.size, 0);
    const mm2 = parseIsakmpMessage(server.sent()[0]!.data);
    assert.ok(mm2.ok && !mm2.value.encrypted);
    assert.ok(
      !mm2.value.payloads.some(
        (p) => p.type === PayloadType.VID && classifyVendorId(p.data)?.entry.id === "FRAGMENTATION",
      ),
    );
    assert.ok(net.tooBig > 0);
    const sf = server.eventsOf("failed")[0];
    assert.ok(sf);
    assert.match(sf.message, /timed out in R_MM4: the peer's MM5 never arrived complete/);
    assert.match(sf.message, /IKE fragmentation is off here: turn it on/);
    const cf = client.eventsOf("failed")[0];
    assert.ok(cf);
    assert.match(cf.message, /no answer from .* \(I_MM5\)/);
    assert.match(cf.message, /our \d+-byte message went out as IP fragments/);
    assert.match(cf.message, /the peer did not announce IKE fragmentation/);
  });

  it("fragmentation off on the client: the server never fragments MM6 towards it", () => {
    const { server, client } = run(
      {},
      { fragmentation: { enabled: false } },
      { pathMtu: 1400, limitMs: 200_000 },
    );
    assert.equal(server.counters.get("ike_fragmented_messages_tx"), 0n);
    assert.equal(client.installed.size, 0);
    const cf = client.eventsOf("failed")[0];
    assert.ok(cf);
    assert.match(cf.message, /IKE fragmentation is off here/);
  });
});
