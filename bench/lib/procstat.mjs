// /proc sampler (adapted from ../shared/bench-kit/lib/procstat.js).
//
// Every process the bench starts leads its own process group (spawned with
// setsid), so "a proxy" is its whole group: socat's forked children, a
// wrapper and what it runs. One snapshot scans /proc once and returns, per
// requested pgid: process count, CPU ticks (utime+stime+cutime+cstime: the
// last two hold children that exited and were reaped, which matters for
// socat's fork per connection), RSS and PSS (smaps_rollup). Plus per-core
// busy/total ticks from /proc/stat and the kernel's TCP ActiveOpens counter
// (connections opened on this machine: a keep-alive run should open only
// its -c connections, and as many again behind a proxy).
// 1 tick = 1/CLK_TCK s; CLK_TCK is 100 on Linux x86-64 and arm64.

import { readdirSync, readFileSync } from 'node:fs';

export const TICKS_PER_SECOND = 100;

function readText(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Fields after the command name of /proc/PID/stat: f[0] = state (field 3), f[2] = pgrp (field 5), f[11..14] = utime, stime, cutime, cstime. */
function statFields(text) {
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

function memoryOf(pid) {
  const text = readText(`/proc/${pid}/smaps_rollup`);
  if (text === undefined) return { rss: 0, pss: 0 };
  const rss = /^Rss:\s+(\d+)/m.exec(text);
  const pss = /^Pss:\s+(\d+)/m.exec(text);
  return { rss: rss ? Number(rss[1]) : 0, pss: pss ? Number(pss[1]) : 0 };
}

function cpuCores() {
  const out = [];
  for (const line of (readText('/proc/stat') ?? '').split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const v = m[2].trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal
    const idle = v[3] + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    out[Number(m[1])] = { busy: total - idle, total };
  }
  return out;
}

function tcpActiveOpens() {
  const lines = (readText('/proc/net/snmp') ?? '').split('\n').filter((l) => l.startsWith('Tcp:'));
  if (lines.length < 2) return NaN;
  const names = lines[0].split(/\s+/);
  const values = lines[1].split(/\s+/);
  return Number(values[names.indexOf('ActiveOpens')]);
}

/** One snapshot: { tNs, cpus: [{busy,total}], tcpOpens, groups: { pgid: { nprocs, cpuTicks, rssKb, pssKb } } }. */
export function snapshot(pgids, { memory = true } = {}) {
  const wanted = new Set(pgids.filter((p) => p > 0));
  const groups = {};
  for (const pg of wanted) groups[pg] = { nprocs: 0, cpuTicks: 0, rssKb: 0, pssKb: 0 };
  if (wanted.size > 0) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const text = readText(`/proc/${entry}/stat`);
      if (text === undefined) continue;
      const f = statFields(text);
      const pg = Number(f[2]);
      if (!wanted.has(pg)) continue;
      const g = groups[pg];
      g.nprocs += 1;
      g.cpuTicks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
      if (memory) {
        const m = memoryOf(entry);
        g.rssKb += m.rss;
        g.pssKb += m.pss;
      }
    }
  }
  return { tNs: String(process.hrtime.bigint()), cpus: cpuCores(), tcpOpens: tcpActiveOpens(), groups };
}

/** Process ids in a process group (for the report's process table). */
export function groupMembers(pgid) {
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const text = readText(`/proc/${entry}/stat`);
    if (text === undefined) continue;
    if (Number(statFields(text)[2]) === pgid) out.push({ pid: Number(entry), comm: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')) });
  }
  return out;
}
