// /proc sampler (adapted from ../shared/bench-kit/lib/procstat.js).
//
// Every process the bench starts leads its own process group (spawned with
// setsid), so "a proxy" is its whole group: socat's forked children, a
// wrapper and what it runs. One snapshot scans /proc once and returns, per
// requested pgid: process count, CPU ticks (utime+stime+cutime+cstime: the
// last two hold children that exited and were reaped, which matters for
// socat's fork per connection), RSS and PSS (smaps_rollup). Plus per-core
// busy/total ticks from /proc/stat, open file descriptors per group (a
// socket leak shows as a count that grows run after run) and the kernel's TCP ActiveOpens counter
// (connections opened on this machine: a keep-alive run should open only
// its -c connections, and as many again behind a proxy).
// 1 tick = 1/CLK_TCK s; CLK_TCK is 100 on Linux x86-64 and arm64.

import { readdirSync, readFileSync } from 'node:fs';

export const TICKS_PER_SECOND = 100;
/** Other work above this many cores during a load makes the bench repeat it (RETRY_BUSY) and the report flag it. */
export const OTHER_CPU_FLAG = 0.1;

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

function openFds(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
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
    // proc = time in process context (user, nice, system): what /proc/PID/stat can account for
    out[Number(m[1])] = { busy: total - idle, total, proc: v[0] + v[1] + v[2], steal: v[7] ?? 0 };
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

/** CPU ticks of this process and of its reaped children (the load generators: wrk, the bulk client). */
function selfTicks() {
  const f = statFields(readText('/proc/self/stat') ?? '');
  return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
}

/**
 * One snapshot: { tNs, cpus: [{busy,total,proc,steal}], tcpOpens, selfTicks, groups: { pgid: { nprocs, cpuTicks, rssKb, pssKb, fds } } }.
 * Between two snapshots, sum(cpus.busy - cpus.steal) - sum(groups.cpuTicks)
 * - selfTicks is the CPU used by processes the bench did not start (other
 * work on the machine, kernel threads). busy, not proc: a process's own CPU
 * time includes the softirq work done in its context (loopback), which
 * /proc/stat books as softirq.
 */
export function snapshot(pgids, { memory = true } = {}) {
  const wanted = new Set(pgids.filter((p) => p > 0));
  const groups = {};
  for (const pg of wanted) groups[pg] = { nprocs: 0, cpuTicks: 0, rssKb: 0, pssKb: 0, fds: 0 };
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
        g.fds += openFds(entry);
      }
    }
  }
  return { tNs: String(process.hrtime.bigint()), cpus: cpuCores(), tcpOpens: tcpActiveOpens(), selfTicks: selfTicks(), groups };
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

const TCP_STATES = { '01': 'ESTABLISHED', '02': 'SYN-SENT', '03': 'SYN-RECV', '04': 'FIN-WAIT-1', '05': 'FIN-WAIT-2', '06': 'TIME-WAIT', '07': 'CLOSE', '08': 'CLOSE-WAIT', '09': 'LAST-ACK', '0A': 'LISTEN', '0B': 'CLOSING' };

/**
 * Server-side sockets still open on the given local ports (LISTEN and
 * TIME-WAIT left out): { port: { 'CLOSE-WAIT': n, ... } }. Sampled after a
 * load has stopped, anything here is a connection the server (or proxy) has
 * not closed although its client is gone.
 */
export function openServerSockets(ports) {
  const wanted = new Map(ports.map((p) => [`:${p.toString(16).toUpperCase().padStart(4, '0')}`, p]));
  const out = {};
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = readText(f);
    if (text === undefined) continue;
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4) continue;
      const local = cols[1].slice(cols[1].lastIndexOf(':'));
      const port = wanted.get(local);
      if (port === undefined) continue;
      const state = TCP_STATES[cols[3]] ?? cols[3];
      if (state === 'LISTEN' || state === 'TIME-WAIT') continue;
      out[port] ??= {};
      out[port][state] = (out[port][state] ?? 0) + 1;
    }
  }
  return out;
}

/**
 * CPU used between two snapshots by processes the bench did not start, in
 * cores: machine busy time (steal excluded, softirq included) minus the
 * measured groups minus this process and its reaped children (the load
 * generator). About 0 ± 0.07 core on a quiet machine.
 */
export function otherCpuCores(pre, post) {
  if (!pre?.cpus || !post?.cpus || pre.selfTicks === undefined) return NaN;
  const seconds = Number(BigInt(post.tNs) - BigInt(pre.tNs)) / 1e9;
  let ticks = post.cpus.reduce((s, c, i) => s + (c.busy - c.steal) - (pre.cpus[i].busy - pre.cpus[i].steal), 0) - (post.selfTicks - pre.selfTicks);
  for (const [g, b] of Object.entries(post.groups)) ticks -= b.cpuTicks - (pre.groups[g]?.cpuTicks ?? b.cpuTicks);
  return ticks / TICKS_PER_SECOND / seconds;
}
