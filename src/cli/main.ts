/**
 * The `oakley` command line (DESIGN "product surface"). Subcommands are added here as the
 * pieces behind them land; each one validates its input and names the flag to fix on error.
 */
import { readFileSync } from "node:fs";
import { Command } from "commander";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

export function buildCli(): Command {
  const program = new Command("oakley")
    .description("L2TP/IPsec VPN server and client with IPsec NAT Traversal")
    .version(pkg.version, "-V, --version");
  return program;
}

await buildCli().parseAsync(process.argv);
