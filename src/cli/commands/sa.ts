/**
 * `oakley sa list` and `oakley sa delete ID`: Main Mode and Quick Mode SAs
 * with algorithm names (from the daemon's records, which come from src/registry), NAT-T state,
 * addresses before and after NAT, and traffic. `--json` gives the records as they are.
 */
import type { Command } from "commander";
import type {
  ChildSaRecord,
  IkeSaRecord,
  NattState,
  SaAddresses,
  SaList,
} from "../../control/index.js";
import {
  action,
  bytes,
  type CliIo,
  type ConnOpts,
  connect,
  connectionOptions,
  fail,
  processIo,
  table,
  toJson,
} from "./common.js";

const ep = (a: { address: string; port?: number }) =>
  a.port === undefined
    ? a.address
    : a.address.includes(":")
      ? `[${a.address}]:${a.port}`
      : `${a.address}:${a.port}`;

export function nattText(n: NattState): string {
  if (n.behindNat === "none" && !n.udpEncapsulation) return "no NAT";
  const who = {
    none: "no NAT",
    local: "we are behind NAT",
    remote: "peer behind NAT",
    both: "both behind NAT",
  }[n.behindNat];
  return `${n.variant}, ${who}${n.floated ? ", port 4500" : ""}${n.udpEncapsulation ? ", UDP-encap" : ""}`;
}

export function peerText(a: SaAddresses): string {
  return a.remoteBeforeNat ? `${ep(a.remote)} (before NAT ${ep(a.remoteBeforeNat)})` : ep(a.remote);
}

export function localText(a: SaAddresses): string {
  return a.localAfterNat ? `${ep(a.local)} (after NAT ${ep(a.localAfterNat)})` : ep(a.local);
}

function ikeAlg(s: IkeSaRecord): string {
  const a = s.algorithms;
  return `${a.encryption}${a.keyLength ? `-${a.keyLength}` : ""} / ${a.hash} / ${a.dhGroup} / ${a.authentication}`;
}

function childAlg(s: ChildSaRecord): string {
  const a = s.algorithms;
  return `${a.encryption}${a.keyLength ? `-${a.keyLength}` : ""} / ${a.integrity} / PFS ${a.pfsGroup}`;
}

export function formatSaList(l: SaList): string {
  let out = `Main Mode SAs (${l.ike.length})\n`;
  if (l.ike.length > 0) {
    out += table(
      ["ID", "STATE", "ROLE", "LOCAL", "PEER", "NAT-T", "ALGORITHMS", "EXPIRES"],
      l.ike.map((s) => [
        s.id,
        s.state,
        s.role,
        localText(s.addresses),
        peerText(s.addresses),
        nattText(s.natt),
        ikeAlg(s),
        s.expiresAt ?? "-",
      ]),
    );
  }
  out += `\nQuick Mode SAs (${l.child.length})\n`;
  if (l.child.length > 0) {
    out += table(
      [
        "ID",
        "STATE",
        "MAIN MODE SA",
        "SPI IN/OUT",
        "ENCAPSULATION",
        "PEER",
        "ALGORITHMS",
        "SELECTORS",
        "IN",
        "OUT",
        "DROPS",
      ],
      l.child.map((s) => [
        s.id,
        s.state,
        s.ikeSa ?? "-",
        `${s.spiIn}/${s.spiOut}`,
        s.encapsulation,
        peerText(s.addresses),
        childAlg(s),
        `${s.localSelector} <-> ${s.remoteSelector}`,
        `${bytes(s.traffic.bytesIn)} ${s.traffic.packetsIn} pkts`,
        `${bytes(s.traffic.bytesOut)} ${s.traffic.packetsOut} pkts`,
        s.drops.toString(),
      ]),
    );
  }
  return out;
}

export function register(program: Command, io: CliIo = processIo()): void {
  const sa = program.command("sa").description("security associations of the running daemon");
  const list = sa
    .command("list")
    .description("list Main Mode and Quick Mode SAs")
    .option("--json", "machine-readable output");
  connectionOptions(list).action(
    action(io, async (o: ConnOpts) => {
      const c = await connect(o);
      if (!c.ok) return fail(io, c.error);
      try {
        const r = await c.value.listSas();
        if (!r.ok) return fail(io, r.error);
        io.out(o.json ? toJson(r.value) : formatSaList(r.value));
      } finally {
        await c.value.close();
      }
    }),
  );
  const del = sa
    .command("delete")
    .description(
      "delete an SA (mm-... also deletes its Quick Mode SAs); the peer is told with a Delete payload",
    )
    .argument("<id>", "SA id from 'oakley sa list'")
    .option("--json", "machine-readable output");
  connectionOptions(del).action(
    action(io, async (id: string, o: ConnOpts) => {
      const c = await connect(o);
      if (!c.ok) return fail(io, c.error);
      try {
        const r = await c.value.deleteSa(id);
        if (!r.ok) return fail(io, r.error);
        if (o.json) io.out(toJson(r.value));
        else {
          io.out(
            `deleted ${r.value.phase === "main-mode" ? "Main Mode" : "Quick Mode"} SA ${r.value.id}\n`,
          );
          if (r.value.alsoDeleted.length > 0)
            io.out(`  and its Quick Mode SAs: ${r.value.alsoDeleted.join(", ")}\n`);
        }
      } finally {
        await c.value.close();
      }
    }),
  );
}
