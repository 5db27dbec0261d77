/**
 * `oakley monitor`: serves the web monitor for one or more daemons.
 *   oakley monitor                                  the local daemon (--socket or the default)
 *   oakley monitor --daemon gw1=unix:/run/oakley/control.sock \
 *                  --daemon gw2=tls://198.51.100.1:9501?token-file=/etc/oakley/gw2.token&ca=/etc/oakley/ca.pem
 *   --listen 127.0.0.1:9600 (default), --poll MS (default 2000)
 */
import type { Command } from "commander";
import { DEFAULT_SOCKET_PATH, parseListen } from "../../control/index.js";
import { type DaemonSpec, Monitor, parseDaemonSpec } from "../../monitor/index.js";
import { action, type CliIo, processIo, UsageError } from "./common.js";

export function register(program: Command, io: CliIo = processIo()): void {
  program
    .command("monitor")
    .description(
      "serve a web page that watches one or more daemons (SAs, NAT-T, traffic, failures)",
    )
    .option(
      "--daemon <spec>",
      "a daemon to watch, repeatable: [NAME=]unix:PATH or [NAME=]tls://HOST:PORT?token-file=FILE&ca=FILE (or cert=FILE&key=FILE)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option(
      "--socket <path>",
      `the local daemon's control socket when no --daemon is given (default ${DEFAULT_SOCKET_PATH})`,
    )
    .option("--listen <host:port>", "where to serve the page", "127.0.0.1:9600")
    .option("--poll <ms>", "how often to ask each daemon", "2000")
    .action(
      action(
        io,
        async (o: { daemon?: string[]; socket?: string; listen: string; poll: string }) => {
          const specs: DaemonSpec[] = [];
          for (const s of o.daemon ?? [`local=unix:${o.socket ?? DEFAULT_SOCKET_PATH}`]) {
            const d = parseDaemonSpec(s);
            if (typeof d === "string") throw new UsageError(d);
            specs.push(d);
          }
          const l = parseListen(o.listen, "--listen");
          if (typeof l === "string") throw new UsageError(l);
          const poll = Number(o.poll);
          if (!Number.isInteger(poll) || poll < 200 || poll > 600_000)
            throw new UsageError(`--poll '${o.poll}' must be milliseconds in 200..600000`);
          const m = new Monitor({ daemons: specs, host: l.host, port: l.port, pollMs: poll });
          await m.start();
          io.out(
            `Oakley monitor on http://${l.host.includes(":") ? `[${l.host}]` : l.host}:${m.port}/ watching ${specs.map((s) => s.name).join(", ")}\n`,
          );
          await new Promise<void>((res) => {
            const stop = () => {
              process.off("SIGINT", stop);
              process.off("SIGTERM", stop);
              m.close().finally(res);
            };
            process.on("SIGINT", stop);
            process.on("SIGTERM", stop);
          });
        },
      ),
    );
}
