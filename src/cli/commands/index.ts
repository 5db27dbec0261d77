/**
 * The management commands of `oakley`:
 * status, sa list|delete, policy ..., users ..., log ..., monitor, control token, profile ...,
 * client-config, diagnose, pki .... src/cli/main.ts calls
 * `registerManagementCommands(program)` once; each module also exports its own `register`.
 */
import type { Command } from "commander";
import type { CliIo } from "./common.js";
import { register as registerClientConfig } from "./client-config.js";
import { register as registerControl } from "./control.js";
import { register as registerDiagnose } from "./diagnose.js";
import { register as registerLog } from "./log.js";
import { register as registerMonitor } from "./monitor.js";
import { register as registerPki } from "./pki.js";
import { register as registerPolicy } from "./policy.js";
import { register as registerProfile } from "./profile.js";
import { register as registerSa } from "./sa.js";
import { register as registerStatus } from "./status.js";
import { register as registerUsers } from "./users.js";

export function registerManagementCommands(program: Command, io?: CliIo): void {
  registerStatus(program, io);
  registerSa(program, io);
  registerPolicy(program, io);
  registerUsers(program, io);
  registerLog(program, io);
  registerMonitor(program, io);
  registerControl(program, io);
  registerProfile(program, io);
  registerClientConfig(program, io);
  registerDiagnose(program, io);
  registerPki(program, io);
}
