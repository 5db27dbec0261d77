/**
 * `oakley monitor`: serves the web monitor for one or more daemons.
 *   oakley monitor                                  the local daemon (--socket or the default)
 *   oakley monitor --daemon gw1=unix:/run/oakley/control.sock \
 *                  --daemon gw2=tls://198.51.100.1:9501?token-file=/etc/oakley/gw2.token&ca=/etc/oakley/ca.pem
 *   --listen 127.0.0.1:9600 (default), --poll MS (default 2000)
 *   --tokens-file FILE (default /etc/oakley/control-tokens): who may open the page — the same
 *     tokens as remote management (`oakley control token NAME`); the browser logs in once
 *   --allow-host NAME (repeatable): a name the page may be reached by (a reverse proxy's)
 */
import type { Command } from "commander";
import { DEFAULT_SOCKET_PATH, parseListen, readTokenFile } from "../../control/index.js";
import { type DaemonSpec, Monitor, parseDaemonSpec } from "../../monitor/index.js";
import { action, type CliIo, processIo, UsageError } from "./common.js";
import { DEFAULT_TOKEN_FILE } from "./control.js";

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
    .option(
      "--tokens-file <file>",
      `tokens that may open the page: log in with one made by 'oakley control token NAME' (default ${DEFAULT_TOKEN_FILE})`,
    )
    .option(
      "--allow-host <name>",
      "also serve requests for this host name, e.g. a reverse proxy's (repeatable; loopback and the --listen address always)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .action(
      action(
        io,
        async (o: {
          daemon?: string[];
          socket?: string;
          listen: string;
          poll: string;
          tokensFile?: string;
          allowHost?: string[];
        }) => {
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
          const tokensFile = o.tokensFile ?? DEFAULT_TOKEN_FILE;
          const first = readTokenFile(tokensFile);
          if (!first.ok || first.value.length === 0)
            throw new UsageError(
              `the monitor needs a token to let anyone in, and ${tokensFile} ${first.ok ? "holds none" : `cannot be used (${first.error.message})`}: make one with 'oakley control token NAME --tokens-file ${tokensFile}' (or give --tokens-file FILE), then log in with it`,
            );
          for (const h of o.allowHost ?? [])
            if (!/^[A-Za-z0-9.-]{1,253}$/.test(h) && !/^[0-9a-fA-F:]+$/.test(h))
              throw new UsageError(`--allow-host '${h}' is not a host name or address`);
          const m = new Monitor({
            daemons: specs,
            host: l.host,
            port: l.port,
            pollMs: poll,
            // Read on every check: a token removed from the file stops working at once.
            tokens: () => {
              const t = readTokenFile(tokensFile);
              return t.ok ? t.value : [];
            },
            allowHosts: o.allowHost ?? [],
          });
          await m.start();
          const warning = m.exposureWarning();
          if (warning) io.err(`${warning}\n`);
          io.out(
            `Oakley monitor on http://${l.host.includes(":") ? `[${l.host}]` : l.host}:${m.port}/ watching ${specs.map((s) => s.name).join(", ")}\n`,
          );
          io.err(`log in with a token from ${tokensFile} (oakley control token NAME)\n`);
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
