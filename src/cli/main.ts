/**
 * The `oakley` command line (DESIGN "product surface"). Subcommands validate their input and
 * name the flag to fix on error; exit codes: 0 ok, 1 runtime failure, 2 usage/config error.
 */
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { ControlServer } from "../control/index.js";
import { startClient } from "../daemon/client.js";
import { ConnectionKeeper } from "../daemon/keeper.js";
import { systemClock } from "../platform/index.js";
import {
  connectWarnings,
  commandLineSecretWarnings,
  formatIssues,
  loadConnectConfig,
  loadServeConfig,
} from "../daemon/config.js";
import { type RunningServer, startServer } from "../daemon/server.js";
import { installStopSignals } from "../daemon/stages/signals.js";
import { LogHub, type LogLevel } from "../obs/log.js";
import { registerManagementCommands } from "./commands/index.js";
import { clientSocketPath } from "./commands/common.js";
import { profileForConnect } from "./commands/profile.js";
import { ConnectView } from "./progress.js";
import { jsonSink, textSink } from "../obs/sinks.js";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/**
 * `oakley connect`'s output: readable lines (progress.ts; a spinner on a terminal) unless JSON
 * lines are asked for with --log-format json or OAKLEY_LOG_FORMAT=json.
 */
function connectLogs(
  level: string,
  given: string | undefined,
): { logs: LogHub; view?: ConnectView } {
  const env = process.env.OAKLEY_LOG_FORMAT;
  const format = given ?? (env === "text" || env === "json" ? env : undefined);
  if (format === "json") {
    return {
      logs: new LogHub(
        jsonSink((s) => process.stdout.write(s)),
        level as LogLevel,
      ),
    };
  }
  // On a terminal the steps only (the protocol groups' info lines with --log-level debug);
  // elsewhere (a pipe, the journal) every line, readable.
  const view = new ConnectView(process.stdout, {
    verbose: !process.stdout.isTTY || level === "debug" || level === "private",
  });
  return { logs: new LogHub(view, level as LogLevel), view };
}

function makeLogs(level: string, given: string | undefined): LogHub {
  const write = (s: string) => process.stdout.write(s);
  // --log-format, else OAKLEY_LOG_FORMAT (the systemd units ask for text: the journal adds
  // its own timestamps), else text on a terminal and JSON lines elsewhere.
  const env = process.env.OAKLEY_LOG_FORMAT;
  const format = given ?? (env === "text" || env === "json" ? env : undefined);
  const text = format === "text" || (format === undefined && process.stdout.isTTY);
  return new LogHub(text ? textSink(write) : jsonSink(write), level as LogLevel);
}

export function buildCli(): Command {
  const program = new Command("oakley")
    .description("L2TP/IPsec VPN server and client with IPsec NAT Traversal")
    .version(pkg.version, "-V, --version");

  program
    .command("serve")
    .description("run the L2TP/IPsec server (IKE responder, L2TP LNS, PPP, ESP, TUN)")
    .option("--store <file>", "policy store (SQLite); created with a default policy on first start")
    .option("--listen <address>", "address for UDP 500/4500 (default 0.0.0.0)")
    .option(
      "--psk <secret>",
      "pre-shared key (stored; replaces the default PSK; visible in the process list: prefer --psk-file or OAKLEY_PSK)",
    )
    .option("--psk-file <file>", "file holding the pre-shared key (or OAKLEY_PSK_FILE)")
    .option(
      "--user <name:password>",
      "add or update a user (repeatable; stored); NAME:@FILE reads the password from FILE",
      collect,
    )
    .option(
      "--users-file <file>",
      "add or update users from FILE, one NAME:PASSWORD a line (or OAKLEY_USERS_FILE)",
    )
    .option("--allow-weak-psk", "accept a pre-shared key shorter than 16 characters")
    .option(
      "--cert <file>",
      "our certificate (PEM; RSA or ECDSA), for certificate authentication (stored)",
    )
    .option("--key <file>", "the private key of --cert (PEM; stored, never shown)")
    .option("--ca <file>", "CA certificate (PEM) that clients' certificates must chain to (stored)")
    .option(
      "--crl <file>",
      "the CA's CRL (PEM or DER): revoked client certificates are refused; re-read when it changes",
    )
    .option("--auth <psk|certificate|both>", "what the rules accept with --cert (default both)")
    .option("--pool <cidr>", "client address pool, e.g. 10.8.0.0/24 (stored)")
    .option("--dns <address>", "DNS server handed to clients (repeatable; stored)", collect)
    .option("--config <file>", "settings file (YAML or JSON)")
    .option("--tun <name>", "TUN device name (default oak0)")
    .option("--mtu <bytes>", "MTU of the PPP link and TUN (default 1400)")
    .option("--allow-legacy", "also accept 3DES and MODP-1024 (old Android/macOS clients)")
    .option(
      "--fips [mode]",
      "FIPS mode: only approved algorithms (AES, HMAC-SHA-1/SHA-2, MODP >= 2048, ECP 19-21), PSKs of 14+ bytes, PPP with PAP only; bare --fips needs OpenSSL's FIPS provider, --fips=policy-only restricts algorithms without it, --fips=off overrides the store's setting",
    )
    .option(
      "--no-negotiate-dh2048",
      "do not offer or accept MODP-2048 (Windows' NegotiateDH2048=0)",
    )
    .option(
      "--no-windows-nat-friendly",
      "present honest NAT-D when behind NAT (Windows then needs the registry edit)",
    )
    .option("--no-fail-closed", "do not install the block-mode firewall rules (nftables)")
    .option("--control-socket <path>", "management socket (default /run/oakley/control.sock; off)")
    .option("--control-listen <host:port>", "remote management over TLS (e.g. 0.0.0.0:9501)")
    .option("--control-cert <pem>", "TLS certificate for --control-listen")
    .option("--control-key <pem>", "TLS key for --control-listen")
    .option("--control-ca <pem>", "accept client certificates signed by this CA")
    .option(
      "--control-tokens <file>",
      "token hashes (see `oakley control token`); also required by --metrics-listen scrapes",
    )
    .option(
      "--control-max-connections <n>",
      "management connections at once, TLS handshakes in progress included (default 64)",
    )
    .option(
      "--control-max-per-address <n>",
      "TLS management connections at once from one address or IPv6 /64 (default 8)",
    )
    .option(
      "--metrics-listen <host:port>",
      "Prometheus metrics (default 127.0.0.1:9500; off); with --control-tokens a scrape needs a bearer token",
    )
    .option(
      "--status-file <file>",
      "where protected/block mode is recorded (default /run/oakley/status.json)",
    )
    .option(
      "--radius <host[:port]>",
      "RADIUS server (repeatable, tried in order; accounting on port+1)",
      collect,
    )
    .option("--radius-secret-file <file>", "file holding the RADIUS shared secret (chmod 600)")
    .option("--radius-nas-identifier <name>", "NAS-Identifier sent to RADIUS (default: host name)")
    .option(
      "--radius-dae-listen <addr[:port]>",
      "accept RFC 5176 Disconnect/CoA from the RADIUS servers (port 3799)",
    )
    .option(
      "--auth-methods <methods>",
      "PPP authentication offered, most preferred first: mschapv2, chap, pap (default mschapv2,chap,pap)",
    )
    .option(
      "--radius-interim-interval <seconds>",
      "accounting Interim-Update interval when RADIUS sends no Acct-Interim-Interval (>= 60)",
    )
    .option("--log-level <level>", "debug, info, warn, error (private also logs keys)")
    .addOption(new Option("--log-format <format>", "log format").choices(["text", "json"]))
    .action(async (opts: Record<string, unknown>) => {
      const flags: Record<string, unknown> = { ...opts };
      // commander sets negated booleans to true by default: only pass them when given.
      for (const k of ["negotiateDh2048", "windowsNatFriendly"])
        if (flags[k] === true) delete flags[k];
      if (flags.mtu !== undefined) flags.mtu = Number(flags.mtu);
      const cfg = loadServeConfig(flags);
      if (!cfg.ok) {
        process.stderr.write(`oakley serve: invalid settings:\n${formatIssues(cfg.error)}\n`);
        process.exit(2);
      }
      for (const w of commandLineSecretWarnings("serve", flags)) process.stderr.write(`${w}\n`);
      const logs = makeLogs(cfg.value.logLevel, opts.logFormat as string | undefined);
      // Signals are taken from the start: one that arrives while starting stops the server as
      // soon as it is up, with the same orderly teardown.
      let server: RunningServer | undefined;
      const signals = installStopSignals(async (sig) => {
        logs.logger("daemon").info(`${sig}: stopping (telling peers, removing ${cfg.value.tun})`);
        await server?.stop();
        process.exit(0);
      });
      const r = await startServer(cfg.value, { logs });
      if (!r.ok) {
        process.stderr.write(`oakley serve: cannot start: ${r.error.message} [${r.error.code}]\n`);
        process.exit(1);
      }
      server = r.value;
      await signals.ready();
    });

  program
    .command("connect")
    .description("connect to an L2TP/IPsec server (IKE initiator, L2TP LAC, PPP, ESP, TUN)")
    .argument("<server>", "server address or host name, or a saved profile (oakley profile add)")
    .option(
      "--psk <secret>",
      "the server's pre-shared key (visible in the process list: prefer --psk-file or OAKLEY_PSK)",
    )
    .option("--psk-file <file>", "file holding the server's pre-shared key (or OAKLEY_PSK_FILE)")
    .option("--user <name>", "your user name")
    .option(
      "--password <password>",
      "your password (visible in the process list: prefer --password-file or OAKLEY_PASSWORD)",
    )
    .option("--password-file <file>", "file holding your password (or OAKLEY_PASSWORD_FILE)")
    .option("--allow-weak-psk", "accept a pre-shared key shorter than 16 characters")
    .option("--cert <file>", "authenticate with this certificate (PEM) instead of a PSK")
    .option("--key <file>", "the private key of --cert (PEM)")
    .option(
      "--ca <file>",
      "CA certificate (PEM): the server's certificate must chain to it and name SERVER (DNS or IP)",
    )
    .option(
      "--nat-policy <0|1|2>",
      "0: refuse servers behind NAT (default); 1: allow a server behind NAT; 2: allow both sides behind NAT",
    )
    .option("--default-route", "send all traffic through the VPN")
    .option("--route <cidr>", "send this network through the VPN (repeatable)", collect)
    .option("--use-peer-dns", "use the DNS servers the server hands out while connected")
    .option(
      "--no-fail-closed",
      "do not block VPN traffic in the clear (nftables) while the VPN is down",
    )
    .option("--status-file <file>", "where protected/block mode is recorded")
    .option("--tun <name>", "TUN device name (default oakc0)")
    .option("--allow-legacy", "also offer 3DES and MODP-1024 (old servers)")
    .option(
      "--fips [mode]",
      "FIPS mode: only approved algorithms, PSK of 14+ bytes, PPP with PAP (needs --allow-auth pap); bare --fips needs OpenSSL's FIPS provider, --fips=policy-only restricts algorithms without it",
    )
    .option(
      "--allow-auth <methods>",
      "also accept weaker PPP authentication: chap (CHAP-MD5), pap (comma-separated); the server does not prove it knows your password (default: MS-CHAPv2 only)",
      collect,
    )
    .option(
      "--persist",
      "stay connected: reconnect after the connection drops (back-off 1 s doubling to 60 s, with jitter); VPN traffic stays blocked in between",
    )
    .option(
      "--control-socket <path>",
      "where `oakley status` asks about this connection (default /run/oakley/connect-NAME.sock; off)",
    )
    .option("--config <file>", "settings file (YAML or JSON)")
    .option(
      "--profile-store <file>",
      "client profile store (or OAKLEY_PROFILE_STORE; default /var/lib/oakley/client.db)",
    )
    .option("--log-level <level>", "debug, info, warn, error (private also logs keys)")
    .addOption(new Option("--log-format <format>", "log format").choices(["text", "json"]))
    .action(async (server: string, opts: Record<string, unknown>) => {
      const given: Record<string, unknown> = { ...opts };
      if (given.failClosed === true) delete given.failClosed;
      // --persist is about this process, not a connection setting.
      const persist = given.persist === true;
      delete given.persist;
      const controlSocket = given.controlSocket as string | undefined;
      delete given.controlSocket;
      // SERVER may name a saved profile; flags and OAKLEY_* given now override its fields.
      const prof = profileForConnect(server, given);
      if (!prof.ok) {
        process.stderr.write(`oakley connect: ${prof.error}\n`);
        process.exit(2);
      }
      if (prof.value.message) process.stderr.write(`oakley connect: ${prof.value.message}\n`);
      const flags: Record<string, unknown> = { server, ...prof.value.flags };
      const cfg = loadConnectConfig(flags);
      if (!cfg.ok) {
        process.stderr.write(`oakley connect: invalid settings:\n${formatIssues(cfg.error)}\n`);
        process.exit(2);
      }
      // Only what was typed now is in /proc/PID/cmdline (not the saved profile's fields).
      for (const w of commandLineSecretWarnings("connect", given)) process.stderr.write(`${w}\n`);
      const { logs, view } = connectLogs(cfg.value.logLevel, opts.logFormat as string | undefined);
      for (const w of connectWarnings(cfg.value)) logs.logger("daemon").warn(w);
      const log = logs.logger("daemon");
      const keeper = new ConnectionKeeper({
        dial: (hooks) =>
          startClient(cfg.value, { logs, allowLegacy: opts.allowLegacy === true, ...hooks }),
        persist,
        log,
        logs,
        ...(prof.value.profile !== undefined ? { profile: prof.value.profile } : {}),
        server: cfg.value.server,
        software: `oakley ${pkg.version}`,
        clock: systemClock,
        failClosed: cfg.value.failClosed,
        random: Math.random,
        setTimer: (fn, ms) => {
          const t = setTimeout(fn, ms);
          return { cancel: () => clearTimeout(t) };
        },
        exit: (code, why) => {
          // JSON readers get the record; a person (and scripts reading stderr) the line.
          if (!view)
            log.error(`connection ended: ${why.message}`, { event: "failed", code: why.code });
          view?.close();
          process.stderr.write(`oakley connect: ${why.message} [${why.code}]\n`);
          void control?.close().finally(() => process.exit(code));
          if (!control) process.exit(code);
        },
      });
      // `oakley status` on this host finds the connection through its control socket.
      const socketPath = controlSocket ?? clientSocketPath(prof.value.profile ?? cfg.value.server);
      let control: ControlServer | undefined;
      if (socketPath !== "off") {
        try {
          control = await ControlServer.start({
            target: keeper.controlTarget(),
            software: `oakley ${pkg.version}`,
            logger: logs.logger("ctl"),
            unix: { path: socketPath },
          });
        } catch (e) {
          log.warn(
            `oakley status will not see this connection: ${(e as Error).message} (--control-socket PATH or off)`,
          );
        }
      }
      await installStopSignals(async (sig) => {
        log.info(`${sig}: disconnecting (PPP, L2TP, IPsec deletes, TUN removed)`);
        await keeper.stop();
        await control?.close();
        view?.close();
        process.exit(0);
      }).ready();
      await keeper.start();
    });

  registerManagementCommands(program);
  return program;
}

await buildCli().parseAsync(process.argv);
