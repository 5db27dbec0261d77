/**
 * The monitor's one page: HTML, CSS and JavaScript inline (no build step, no CDN, nothing
 * fetched but /api/state and /api/events from the same origin). It renders, per daemon: whether
 * it is reachable (and why not), its mode, Main Mode and Quick Mode SAs with algorithm names,
 * NAT-T state, addresses before/after NAT, per-SA traffic, failures/drops by reason, and the
 * server's recent connection failures with their explanations.
 * Live updates come over server-sent events; if the event stream fails the page polls.
 *
 * All daemon-supplied text is put into the DOM with textContent (never innerHTML), so a hostile
 * daemon cannot inject markup. The initial state is embedded as JSON with "<" escaped.
 */

const CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:1rem 2rem;color:#1b1b1b;background:#fafafa}
h1{font-size:1.4rem;margin:0 0 .2rem}
.meta{color:#555;margin-bottom:1rem}
section.daemon{background:#fff;border:1px solid #ccc;border-radius:6px;padding:.6rem 1rem;margin-bottom:1.2rem}
section.daemon h2{font-size:1.1rem;margin:.2rem 0}
.badge{display:inline-block;padding:0 .5rem;border-radius:4px;font-weight:600;margin-left:.5rem}
.ok{background:#d8f3dc;color:#1b4332}.down{background:#ffd6d6;color:#7a0000}.block{background:#ffe5b4;color:#7a4100}
.error{color:#7a0000;font-weight:600}
table{border-collapse:collapse;margin:.3rem 0 .8rem;width:100%}
th,td{border-bottom:1px solid #e3e3e3;padding:.15rem .4rem;text-align:left;vertical-align:top;font-size:12.5px}
th{background:#f0f0f0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
h3{font-size:.95rem;margin:.5rem 0 .1rem}
`;

const SCRIPT = `
"use strict";
function el(tag, text, attrs) {
  var e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
  return e;
}
function bytes(s) {
  var n = Number(s), u = ["B","KiB","MiB","GiB","TiB"], i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return i === 0 ? s + " B" : n.toFixed(1) + " " + u[i];
}
function ep(a) { return a ? (a.port === undefined ? a.address : a.address + ":" + a.port) : "-"; }
function natt(n) {
  if (n.behindNat === "none" && !n.udpEncapsulation) return "no NAT";
  var who = {none:"no NAT",local:"we are behind NAT",remote:"peer behind NAT",both:"both behind NAT"}[n.behindNat];
  return n.variant + ", " + who + (n.floated ? ", port 4500" : "") + (n.udpEncapsulation ? ", UDP-encap" : "");
}
function table(headers, rows, cls) {
  var t = el("table", null, cls ? {"class": cls} : null), tr = el("tr");
  headers.forEach(function (h) { tr.appendChild(el("th", h)); });
  t.appendChild(tr);
  rows.forEach(function (r) {
    var row = el("tr", null, r.attrs || null);
    r.cells.forEach(function (c) {
      var td = el("td", c.text, c.attrs || null);
      if (c.num) td.className = "num";
      row.appendChild(td);
    });
    t.appendChild(row);
  });
  return t;
}
function alg1(a) { return a.encryption + (a.keyLength ? "-" + a.keyLength : "") + " / " + a.hash + " / " + a.dhGroup + " / " + a.authentication; }
function alg2(a) { return a.encryption + (a.keyLength ? "-" + a.keyLength : "") + " / " + a.integrity + " / PFS " + a.pfsGroup; }
function render(state) {
  var root = document.getElementById("daemons");
  root.replaceChildren();
  document.getElementById("updated").textContent = "updated " + state.generatedAt;
  state.daemons.forEach(function (d) {
    var s = el("section", null, {"class": "daemon", "data-daemon": d.name, "data-reachable": String(d.reachable)});
    var h = el("h2", d.name + " ");
    h.appendChild(el("span", d.endpoint, {"class": "meta"}));
    h.appendChild(el("span", d.reachable ? "reachable" : "UNREACHABLE", {"class": "badge " + (d.reachable ? "ok" : "down")}));
    if (d.status && d.status.mode === "block") h.appendChild(el("span", "BLOCK MODE", {"class": "badge block"}));
    s.appendChild(h);
    if (!d.reachable && d.error) {
      s.appendChild(el("p", "cannot reach this daemon: " + d.error.message + " [" + d.error.code + "]" + (d.lastSeen ? " (last seen " + d.lastSeen + ")" : ""), {"class": "error", "data-error": d.error.code}));
    }
    if (d.status) {
      var st = d.status;
      s.appendChild(el("p", st.software + " (" + st.role + "), mode " + st.mode + (st.blockReason ? ": " + st.blockReason : "") + ", policy " + (st.assignedPolicy || "(none)") + ", started " + st.startedAt, {"class": "meta"}));
    }
    if (d.sas) {
      s.appendChild(el("h3", "Main Mode SAs (" + d.sas.ike.length + ")"));
      s.appendChild(table(["ID","State","Local","Peer (after NAT)","Peer before NAT","NAT-T","Algorithms","Expires"],
        d.sas.ike.map(function (x) { return {attrs: {"data-sa": x.id}, cells: [
          {text: x.id},{text: x.state},{text: ep(x.addresses.local) + (x.addresses.localAfterNat ? " (after NAT " + ep(x.addresses.localAfterNat) + ")" : "")},
          {text: ep(x.addresses.remote)},{text: ep(x.addresses.remoteBeforeNat)},{text: natt(x.natt)},
          {text: alg1(x.algorithms), attrs: {"data-field": "algorithms"}},{text: x.expiresAt || "-"}]}; }), "mm"));
      s.appendChild(el("h3", "Quick Mode SAs (" + d.sas.child.length + ")"));
      s.appendChild(table(["ID","State","SPI in/out","Encapsulation","Peer","NAT-T","Algorithms","Bytes in","Bytes out","Packets in/out","Drops"],
        d.sas.child.map(function (x) { return {attrs: {"data-sa": x.id}, cells: [
          {text: x.id},{text: x.state},{text: x.spiIn + " / " + x.spiOut},{text: x.encapsulation},
          {text: ep(x.addresses.remote) + (x.addresses.remoteBeforeNat ? " (before NAT " + ep(x.addresses.remoteBeforeNat) + ")" : "")},
          {text: natt(x.natt)},{text: alg2(x.algorithms), attrs: {"data-field": "algorithms"}},
          {text: bytes(x.traffic.bytesIn), num: true, attrs: {"data-bytes-in": x.traffic.bytesIn}},
          {text: bytes(x.traffic.bytesOut), num: true, attrs: {"data-bytes-out": x.traffic.bytesOut}},
          {text: x.traffic.packetsIn + " / " + x.traffic.packetsOut, num: true},{text: x.drops, num: true}]}; }), "qm"));
    }
    if (d.recentFailures && d.recentFailures.length) {
      var rows = [];
      d.recentFailures.forEach(function (p) {
        p.failures.slice().reverse().forEach(function (f) {
          rows.push({attrs: {"data-recent-failure": p.address, "data-step": f.step}, cells: [
            {text: f.at + (f.count > 1 ? " (" + f.count + "x)" : "")},
            {text: f.peer.address + ":" + f.peer.port + (f.user ? " user " + f.user : "")},
            {text: f.step},
            {text: f.explanation, attrs: {"data-field": "explanation"}},
            {text: f.client || "-"},
            {text: f.offered.length ? f.offered.join("; ") : "-"},
            {text: f.reason + " [" + f.code + "]"}]});
        });
      });
      s.appendChild(el("h3", "Recent connection failures, explained (oakley diagnose --recent)"));
      s.appendChild(table(["When","Client address","Step","Why / what to do","Client (from VIDs)","Offered","Failure"], rows, "recent-failures"));
    }
    if (d.failures && d.failures.length) {
      s.appendChild(el("h3", "Failures and drops by reason" + (d.reachable ? "" : " (last known)")));
      s.appendChild(table(["Counter","Reason","Count"], d.failures.map(function (f) {
        return {attrs: {"data-failure": f.counter + ":" + f.reason}, cells: [{text: f.counter},{text: f.reason},{text: f.count, num: true}]};
      }), "failures"));
    }
    root.appendChild(s);
  });
}
var initial = JSON.parse(document.getElementById("initial-state").textContent);
render(initial);
var mode = document.getElementById("live");
function poll() {
  fetch("api/state").then(function (r) { if (r.status === 401) { location.href = "login"; throw new Error("signed out"); } return r.json(); }).then(render).catch(function () {}).finally(function () { setTimeout(poll, 2000); });
}
if (typeof EventSource === "function") {
  var es = new EventSource("api/events");
  es.onmessage = function (ev) { mode.textContent = "live (server-sent events)"; render(JSON.parse(ev.data)); };
  es.onerror = function () { if (es.readyState === 2) { mode.textContent = "live (polling)"; poll(); } };
} else { mode.textContent = "live (polling)"; poll(); }
`;

/**
 * The login form: the token is sent once in a POST body (never in a URL, which would stay in the
 * browser's history, in proxy logs and in Referer headers) and exchanged for a session cookie.
 */
export function loginPage(message?: string): string {
  const esc = (t: string) =>
    t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Oakley monitor: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${CSS}</style></head>
<body><h1>Oakley IPsec monitor</h1>
${message ? `<p class="error" id="login-error">${esc(message)}</p>` : ""}
<form method="post" action="login" id="login">
<p><label for="token">Management token</label><br>
<input type="password" id="token" name="token" autocomplete="current-password" size="60" required autofocus></p>
<p><button type="submit">Log in</button></p>
</form>
<p class="meta">A token comes from <code>oakley control token NAME</code> (the same tokens as remote management).</p>
</body></html>
`;
}

/** The page with `state` embedded for the first paint. */
export function monitorPage(stateJson: string): string {
  const safe = stateJson
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Oakley monitor</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${CSS}</style></head>
<body><h1>Oakley IPsec monitor</h1>
<div class="meta"><span id="updated"></span> &middot; <span id="live">connecting</span>
<form method="post" action="logout" style="display:inline"> &middot; <button type="submit">Log out</button></form></div>
<div id="daemons"></div>
<script type="application/json" id="initial-state">${safe}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}
