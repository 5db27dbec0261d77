/**
 * A FreeRADIUS 3.2 configuration for interop tests (Debian's `freeradius`): everything in one
 * directory, listening on one address, the given NAS clients (Message-Authenticator required),
 * PAP/CHAP/MS-CHAPv2 from a users file, accounting to a detail file, and optionally the SQL
 * module on SQLite (FreeRADIUS's own schema and queries from the package) for users and
 * accounting.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";

export interface FreeradiusConf {
  /** The configuration directory (also logs, run files, accounting). */
  readonly dir: string;
  /** Address FreeRADIUS listens on (auth 1812, accounting 1813). */
  readonly listen: string;
  readonly clients: readonly {
    readonly name: string;
    readonly ip: string;
    readonly secret: string;
  }[];
  /** The users file's text. */
  readonly users: string;
  /** Users and accounting also in SQL (radius.sqlite in `dir`). */
  readonly sql?: boolean;
}

/** FreeRADIUS's SQLite schema and queries as the package installs them. */
const FR_SQL = "/etc/freeradius/3.0/mods-config/sql/main/sqlite";

/** Writes radiusd.conf, the users file and (with `sql`) the database; run `freeradius -X -d dir`. */
export function writeFreeradiusConf(c: FreeradiusConf): void {
  for (const d of ["log", "acct", "run", "mods-config"])
    mkdirSync(join(c.dir, d), { recursive: true });
  writeFileSync(join(c.dir, "radiusd.conf"), radiusdConf(c));
  writeFileSync(join(c.dir, "users"), c.users);
  writeFileSync(join(c.dir, "acct_users"), "");
  if (c.sql) {
    const mods = join(c.dir, "mods-config", "sql", "main", "sqlite");
    mkdirSync(mods, { recursive: true });
    copyFileSync(join(FR_SQL, "queries.conf"), join(mods, "queries.conf"));
    const db = new Database(sqlPath(c.dir));
    try {
      db.exec(readFileSync(join(FR_SQL, "schema.sql"), "utf8"));
    } finally {
      db.close();
    }
  }
}

export function sqlPath(dir: string): string {
  return join(dir, "radius.sqlite");
}

function radiusdConf(c: FreeradiusConf): string {
  const dir = c.dir;
  const clients = c.clients
    .map(
      (x) => `
client ${x.name} {
  ipaddr = ${x.ip}
  secret = ${x.secret}
  require_message_authenticator = yes
  nas_type = other
}`,
    )
    .join("\n");
  const sqlModule = `
  expr {
  }
  sql {
    dialect = "sqlite"
    driver = "rlm_sql_sqlite"
    sqlite {
      filename = "${sqlPath(dir)}"
      busy_timeout = 200
    }
    radius_db = "radius"
    acct_table1 = "radacct"
    acct_table2 = "radacct"
    postauth_table = "radpostauth"
    authcheck_table = "radcheck"
    groupcheck_table = "radgroupcheck"
    authreply_table = "radreply"
    groupreply_table = "radgroupreply"
    usergroup_table = "radusergroup"
    delete_stale_sessions = yes
    pool {
      start = 1
      min = 1
      max = 4
      spare = 2
      uses = 0
      retry_delay = 30
      lifetime = 0
      idle_timeout = 60
    }
    client_table = "nas"
    group_attribute = "SQL-Group"
    $INCLUDE \${modconfdir}/\${.:name}/main/\${dialect}/queries.conf
  }`;
  // The session key SQL accounting matches Start, Interim and Stop on (the stock config's
  // acct_unique policy, which this minimal configuration does not load).
  const sqlPreacct = `
    update request {
      &Acct-Unique-Session-Id := "%{md5:%{User-Name},%{Acct-Session-Id},%{NAS-IP-Address},%{NAS-Identifier}}"
    }`;
  return `
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = ${dir}/log
raddbdir = ${dir}
radacctdir = ${dir}/acct
name = freeradius
confdir = ${dir}
modconfdir = ${dir}/mods-config
run_dir = ${dir}/run
db_dir = ${dir}
libdir = /usr/lib/freeradius
pidfile = ${dir}/run/freeradius.pid
max_request_time = 30
cleanup_delay = 1
max_requests = 1024
hostname_lookups = no
log {
  destination = stdout
  auth = yes
}
security {
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = no
}
${clients}
thread pool {
  start_servers = 1
  max_servers = 4
  min_spare_servers = 1
  max_spare_servers = 4
  max_requests_per_server = 0
}
modules {
  pap {
    normalise = yes
  }
  chap {
  }
  mschap {
  }${c.sql ? sqlModule : ""}
  files {
    filename = ${dir}/users
    acctusersfile = ${dir}/acct_users
  }
  detail {
    filename = ${dir}/acct/detail
    permissions = 0600
    header = "%t"
  }
}
server default {
  listen {
    type = auth
    ipaddr = ${c.listen}
    port = 1812
  }
  listen {
    type = acct
    ipaddr = ${c.listen}
    port = 1813
  }
  authorize {
    files${c.sql ? "\n    sql" : ""}
    chap
    mschap
    pap
  }
  authenticate {
    Auth-Type PAP {
      pap
    }
    Auth-Type CHAP {
      chap
    }
    Auth-Type MS-CHAP {
      mschap
    }
  }
  preacct {${c.sql ? sqlPreacct : ""}
  }
  accounting {
    detail${c.sql ? "\n    sql" : ""}
  }
  post-auth {
  }
}
`;
}
