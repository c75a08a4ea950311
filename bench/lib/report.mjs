// Turns a results directory (raw.jsonl + meta.json + logs/) into the markdown
// report. Adapted from ../shared/bench-kit/lib/summarize.js.
// CLI: node bench/lib/report.mjs bench/results/<time>   (prints the report)
//
// Every figure is a median over the interleaved repetitions. "vs direct" is
// median(path) / median(direct) of the same test; the bracket after it is the
// min–max of the per-repetition paired ratios (path and direct measured in
// the same round, seconds apart), which shows how far the ratio moves.

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { OTHER_CPU_FLAG, otherCpuCores } from './procstat.mjs';
import { fileURLToPath } from 'node:url';

const median = (a) => {
  const v = a.filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
const cv = (a) => {
  const v = a.filter(Number.isFinite);
  if (v.length < 2) return NaN;
  const m = mean(v);
  return Math.sqrt(v.reduce((s, x) => s + (x - m) ** 2, 0) / (v.length - 1)) / m;
};
const f0 = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '—');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '—');
const pct = (x) => (Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : '—');
const ms = (us) => (Number.isFinite(us) ? (us / 1000).toFixed(2) : '—');
const mib = (kb) => (Number.isFinite(kb) ? (kb / 1024).toFixed(1) : '—');

export function renderReport(outDir) {
  const rows = readFileSync(join(outDir, 'raw.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const meta = JSON.parse(readFileSync(join(outDir, 'meta.json'), 'utf8'));
  const P = meta.params;
  const TPS = meta.ticksPerSecond ?? 100;

  const cpuSec = (r, role) => {
    const g = r.roles?.[role];
    if (!g || !r.pre?.groups?.[g] || !r.post?.groups?.[g]) return NaN;
    return (r.post.groups[g].cpuTicks - r.pre.groups[g].cpuTicks) / TPS;
  };
  const busy = (r, i, seconds) => {
    if (!r.pre?.cpus?.[i] || !r.post?.cpus?.[i] || !seconds) return NaN;
    return Math.min(1, (r.post.cpus[i].busy - r.pre.cpus[i].busy) / TPS / seconds);
  };

  const otherCpu = (r) => otherCpuCores(r.pre, r.post);
  const stealShare = (r) => {
    if (!r.pre?.cpus || !r.post?.cpus) return NaN;
    const st = r.post.cpus.reduce((s, c, i) => s + c.steal - r.pre.cpus[i].steal, 0);
    const tot = r.post.cpus.reduce((s, c, i) => s + c.total - r.pre.cpus[i].total, 0);
    return st / tot;
  };
  for (const r of rows) {
    const x = r.res ?? {};
    r.ok = !x.error;
    r.otherCpu = otherCpu(r);
    r.steal = stealShare(r);
    r.tcpOpens = r.post && r.pre ? r.post.tcpOpens - r.pre.tcpOpens : NaN;
    if (r.test === 'ka' || r.test === 'enc') {
      const sec = x.duration_us / 1e6;
      r.value = x.rps;
      r.p50 = x.lat_p50_us;
      r.p99 = x.lat_p99_us;
      r.errors = ['err_connect', 'err_read', 'err_write', 'err_status', 'err_timeout'].reduce((s, k) => s + (x[k] ?? 0), 0);
      r.bytesPerResp = x.bytes / x.requests;
      for (const role of ['proxy', 'backend', 'server', 'storage']) r[`${role}Us`] = (cpuSec(r, role) * 1e6) / x.requests;
      r.cpu0 = busy(r, 0, sec);
      r.cpu1 = busy(r, 1, sec);
    } else if (r.test.startsWith('bulk-')) {
      r.value = x.MBps;
      r.complete = x.complete;
      r.proxySecPerGiB = cpuSec(r, 'proxy') / (x.bytes / 2 ** 30);
      r.backendSecPerGiB = cpuSec(r, 'backend') / (x.bytes / 2 ** 30);
      r.cpu0 = busy(r, 0, x.seconds);
      r.cpu1 = busy(r, 1, x.seconds);
    } else if (r.test.startsWith('addon-')) {
      const cpu = x.cpuSelfS + x.cpuPeerS;
      r.value = r.test === 'addon-pp' ? x.rps : x.MBps;
      r.complete = x.complete;
      r.cpuSecPerGiB = cpu / (x.bytes / 2 ** 30);
      r.cpuUsPerRt = (cpu * 1e6) / x.rounds;
      r.p50 = x.p50Us;
      r.p99 = x.p99Us;
      r.cpu0 = busy(r, 0, x.seconds);
      r.cpu1 = busy(r, 1, x.seconds);
    }
  }

  const sel = (t, p) => rows.filter((r) => r.test === t && r.path === p && r.ok);
  const med = (t, p, k) => median(sel(t, p).map((r) => r[k]));
  const has = (t) => rows.some((r) => r.test === t);
  const ratio = (t, p, ref, k = 'value') => med(t, p, k) / med(t, ref, k);
  const paired = (t, p, ref, k = 'value') => {
    const out = [];
    for (const r of sel(t, p)) {
      const d = sel(t, ref).find((x) => x.rep === r.rep);
      if (d && d[k]) out.push(r[k] / d[k]);
    }
    return out;
  };
  const ratioCell = (t, p, ref, k = 'value') => {
    if (p === ref) return '1.00';
    const pr = paired(t, p, ref, k);
    const span = pr.length > 1 ? ` [${f2(Math.min(...pr))}–${f2(Math.max(...pr))}]` : '';
    return `**${f2(ratio(t, p, ref, k))}**${span}`;
  };
  const errorsOf = (t, p) => rows.filter((r) => r.test === t && r.path === p).reduce((s, r) => s + (r.errors ?? 0) + (r.ok ? 0 : 1), 0);
  const noise = [];

  const L = [];
  const out = (s = '') => L.push(s);
  const cpuLabel = (n) => (P.PIN ? `CPU ${n}` : 'any CPU');

  out('# HTTP Enclave bench: host proxy vs direct / HAProxy / socat, enclave vs bare Node https, vsock addon stream vs unix socket');
  out();
  out(`Generated by \`npm run bench${P.QUICK ? ' -- --quick' : ''}\` on ${meta.dateUtc} (took ${meta.elapsedS ?? '?'} s). Raw data and process logs: \`${meta.outDir}/\`.`);
  out();
  if (meta.git) out(`Code measured: commit ${meta.git.commit}${meta.git.dirty.length ? ` plus uncommitted changes in ${meta.git.dirty.join(', ')}` : ''} (built by \`scripts/ensure-built.mjs\` before the run).`);
  out();
  out(`Machine: ${meta.nproc} vCPU (${meta.cpu}), ${meta.memMiB} MiB RAM, kernel ${meta.kernel}, Node ${meta.versions?.node} (OpenSSL ${meta.versions?.['node openssl']}). ` +
    `Load average at start ${meta.loadavg}; CPU busy with the bench's servers idle, 1 s before the first load: ${(meta.backgroundBusy ?? []).map(pct).join(' / ')}.`);
  out();
  out(P.PIN
    ? `CPU placement (taskset): load generator (wrk, bulk client) on CPU ${P.CPU_CLIENT}; every proxy (host, haproxy, socat) and the storage host on CPU ${P.CPU_PROXY}; the backends (bare Node https, TCP sink/source) and the enclave on CPU ${P.CPU_BACKEND}. ` +
      'The TLS terminator keeps a core to itself, as the enclave will have its own vCPUs; a proxy\'s cost therefore shows up as CPU it takes from the load generator.'
    : `CPU placement: not pinned (scheduler decides).${meta.pinNote ? ` ${meta.pinNote}.` : ''}`);
  out();
  out(`Every figure is the **median of ${P.REPS} interleaved repetitions**; within a repetition the paths run one after the other in an order that rotates each repetition (A B C D, B C D A, ...). ` +
    '"vs direct" / "vs bare" = ratio of the medians; [brackets] = min–max of the per-repetition paired ratios. ' +
    '"CPU µs/req" = user+system CPU time of that process group during the run divided by the requests completed (from /proc; includes kernel work for the loopback segments the process sends). ' +
    '"CPU0 / CPU1" = each core\'s busy share during the run; a core at ~100% is the bottleneck. "TCP opens" = connections opened on the machine during the run (kernel ActiveOpens): a keep-alive run opens its ' +
    `${P.KA_CONNS} connections (twice that through a proxy), more means reconnects. No figure here is a pass/fail threshold.`);
  out();

  // ---------------------------------------------------------------- 1. keep-alive
  const paths = meta.paths;
  if (has('ka')) {
    out(`## 1. Proxy: HTTPS keep-alive through each path (wrk -t${P.WRK_THREADS} -c${P.KA_CONNS} -d${P.DURATION}s GET /, ${f0(med('ka', 'direct', 'bytesPerResp'))} B responses)`);
    out();
    out('Same backend on every path: the bare Node https server (ECDSA P-256, TLS 1.3, no resumption). The proxies see only TLS bytes.');
    out();
    out('| path | req/s | vs direct | p50 ms | p99 ms | proxy CPU µs/req | backend CPU µs/req | CPU0 / CPU1 | TCP opens | req/s CV | errors |');
    out('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const p of paths) {
      const s = sel('ka', p);
      if (!s.length && !errorsOf('ka', p)) continue;
      const c = cv(s.map((r) => r.value));
      noise.push([`ka ${p}`, c]);
      out(`| ${p} | ${f0(med('ka', p, 'value'))} | ${ratioCell('ka', p, 'direct')} | ${ms(med('ka', p, 'p50'))} | ${ms(med('ka', p, 'p99'))} | ` +
        `${p === 'direct' ? '—' : f1(med('ka', p, 'proxyUs'))} | ${f1(med('ka', p, 'backendUs'))} | ${pct(med('ka', p, 'cpu0'))} / ${pct(med('ka', p, 'cpu1'))} | ` +
        `${f0(med('ka', p, 'tcpOpens'))} | ${pct(c)} | ${errorsOf('ka', p)} |`);
    }
    out();
  }

  // ---------------------------------------------------------------- 2. bulk
  if (has('bulk-up') || has('bulk-down')) {
    const size = P.BULK_BYTES >= 2 ** 30 ? `${P.BULK_BYTES / 2 ** 30} GiB` : `${P.BULK_BYTES / 2 ** 20} MiB`;
    out(`## 2. Proxy: bulk bytes through each path (raw TCP, ${size} per transfer, Node client -> Node sink / source)`);
    out();
    out('MB = 10^6 bytes; up = client -> backend, down = backend -> client; one connection per transfer. Proxy CPU = the proxy group\'s CPU seconds per GiB moved.');
    out();
    out('| path | up MB/s | vs direct | down MB/s | vs direct | proxy CPU s/GiB up / down | CPU0 / CPU1 (up) | CPU0 / CPU1 (down) | CV up / down | incomplete |');
    out('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const p of paths) {
      const su = sel('bulk-up', p);
      const sd = sel('bulk-down', p);
      if (!su.length && !sd.length) continue;
      const cu = cv(su.map((r) => r.value));
      const cd = cv(sd.map((r) => r.value));
      noise.push([`bulk-up ${p}`, cu], [`bulk-down ${p}`, cd]);
      const inc = rows.filter((r) => r.path === p && r.test.startsWith('bulk-') && (!r.ok || !r.complete)).length;
      out(`| ${p} | ${f0(med('bulk-up', p, 'value'))} | ${ratioCell('bulk-up', p, 'direct')} | ${f0(med('bulk-down', p, 'value'))} | ${ratioCell('bulk-down', p, 'direct')} | ` +
        `${p === 'direct' ? '—' : `${f2(med('bulk-up', p, 'proxySecPerGiB'))} / ${f2(med('bulk-down', p, 'proxySecPerGiB'))}`} | ` +
        `${pct(med('bulk-up', p, 'cpu0'))} / ${pct(med('bulk-up', p, 'cpu1'))} | ${pct(med('bulk-down', p, 'cpu0'))} / ${pct(med('bulk-down', p, 'cpu1'))} | ${pct(cu)} / ${pct(cd)} | ${inc} |`);
    }
    out();
  }

  // ---------------------------------------------------------------- 3. enclave
  if (has('enc')) {
    const ec = meta.enclaveCheck ?? {};
    out(`## 3. Enclave GET /private-data vs bare Node https (wrk -t${P.WRK_THREADS} -c${P.KA_CONNS} -d${P.DURATION}s, keep-alive, same ECDSA certificate)`);
    out();
    out(`The enclave (AUTH_MODE=token, a fresh random master key) serves one ${ec.bodyBytes ?? P.DOC_BYTES}-byte JSON document, POSTed once before (answer ${ec.postStatus ?? '?'}); every GET authenticates the bearer token (HMAC pseudonyms), ` +
      'asks the host\'s storage service for the sealed record over a unix socket (one round trip) and opens it (AEAD). The bare server answers the same bytes with the same header names ' +
      `(body identical: ${ec.sameBody ? 'yes' : 'NO'}; bytes per response below). The storage host is a host process started only for its storage service (a worker thread with SQLite), on the host's CPU; ` +
      '"storage CPU" is that whole process. "enclave-via-host" adds our host proxy in front of the enclave (client -> host -> enclave -> storage), the deployed shape.');
    out();
    out('| server | req/s | vs bare | p50 ms | p99 ms | server CPU µs/req | vs bare | storage host CPU µs/req | host proxy CPU µs/req | B/response | CPU0 / CPU1 | TCP opens | req/s CV | errors |');
    out('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const v of ['bare', 'enclave', 'enclave-via-host']) {
      const s = sel('enc', v);
      if (!s.length && !errorsOf('enc', v)) continue;
      const c = cv(s.map((r) => r.value));
      noise.push([`enc ${v}`, c]);
      out(`| ${v} | ${f0(med('enc', v, 'value'))} | ${ratioCell('enc', v, 'bare')} | ${ms(med('enc', v, 'p50'))} | ${ms(med('enc', v, 'p99'))} | ` +
        `${f1(med('enc', v, 'serverUs'))} | ${v === 'bare' ? '1.00' : `**${f2(ratio('enc', v, 'bare', 'serverUs'))}**`} | ${v === 'bare' ? '—' : f1(med('enc', v, 'storageUs'))} | ` +
        `${v === 'enclave-via-host' ? f1(med('enc', v, 'proxyUs')) : '—'} | ${f0(med('enc', v, 'bytesPerResp'))} | ${pct(med('enc', v, 'cpu0'))} / ${pct(med('enc', v, 'cpu1'))} | ` +
        `${f0(med('enc', v, 'tcpOpens'))} | ${pct(c)} | ${errorsOf('enc', v)} |`);
    }
    out();
  }

  // ---------------------------------------------------------------- 4. addon
  const hasAddon = ['addon-up', 'addon-down', 'addon-pp'].some(has);
  const ADDON_TARGET = 0.9;
  const addonVerdict = (t) => {
    const x = ratio(t, 'addon', 'plain');
    return Number.isFinite(x) ? (x >= ADDON_TARGET ? 'target met' : '**below the target**') : 'no result';
  };
  if (hasAddon) {
    const b = P.ADDON_BYTES;
    const size = b >= 2 ** 30 ? `${b / 2 ** 30} GiB` : `${b / 2 ** 20} MiB`;
    out(`## 4. The vsock addon's stream vs a plain Node unix socket (${size} up and down, ${f0(P.ADDON_ROUNDS)} round trips of ${P.ADDON_MSG} B; target addon / plain **≥ ${ADDON_TARGET.toFixed(2)}**)`);
    out();
    out('Two processes, one per end of one connected stream socket (`bench/lib/stream-pair.mjs`). **addon**: an AF_UNIX SOCK_STREAM pair made by `@http-enclave/vsock`\'s `socketPair()`, ' +
      'each end a net.Socket from `socketFromFd` (the code path a vsock socket takes; no AF_VSOCK socket is used here). **plain**: `net.createServer` on a unix path in the scratch directory and `net.connect`. ' +
      `up = the measuring process writes (1 MiB writes, the peer answers one byte at the end), down = the peer writes; ping-pong = one ${P.ADDON_MSG}-byte message in flight, echoed by the peer. ` +
      'Each run first warms the connection up (16 MiB each way, 2,000 round trips; not timed). CPU = user+system of both processes over the measured transfer only (process.cpuUsage: no Node start-up, no warm-up). ' +
      `Placement: measuring process on ${cpuLabel(P.CPU_CLIENT)}, peer on ${cpuLabel(P.ADDON_PEER_CPU)}` +
      (P.PIN && P.ADDON_PEER_CPU === P.CPU_CLIENT ? ' (same core: a ping-pong across this VM\'s vCPUs waits on cross-vCPU wake-ups, tens of µs to ms, which would swamp the per-message cost compared here; `ADDON_PEER_CPU=1` measures that)' : '') +
      `. ${P.ADDON_REPS} interleaved repetitions (order rotates: plain addon, addon plain, ...); medians; [brackets] = min–max of the per-repetition paired ratios.`);
    out();
    out('| transfer | plain | addon | **addon / plain** (target ≥ 0.90) | CPU plain | CPU addon | CPU addon / plain | p50 / p99 µs plain | p50 / p99 µs addon | CV plain / addon | errors |');
    out('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const [t, label] of [['addon-up', 'bulk up, MB/s'], ['addon-down', 'bulk down, MB/s'], ['addon-pp', `ping-pong ${P.ADDON_MSG} B, round trips/s`]]) {
      if (!has(t)) continue;
      const k = t === 'addon-pp' ? 'cpuUsPerRt' : 'cpuSecPerGiB';
      const unit = t === 'addon-pp' ? ' µs/rt' : ' s/GiB';
      const fc = t === 'addon-pp' ? f1 : f2;
      const cp = cv(sel(t, 'plain').map((r) => r.value));
      const ca = cv(sel(t, 'addon').map((r) => r.value));
      noise.push([`${t} plain`, cp], [`${t} addon`, ca]);
      const lat = (p) => (t === 'addon-pp' ? `${f1(med(t, p, 'p50'))} / ${f1(med(t, p, 'p99'))}` : '—');
      out(`| ${label} | ${f0(med(t, 'plain', 'value'))} | ${f0(med(t, 'addon', 'value'))} | ${ratioCell(t, 'addon', 'plain')} (${addonVerdict(t)}) | ` +
        `${fc(med(t, 'plain', k))}${unit} | ${fc(med(t, 'addon', k))}${unit} | ${ratioCell(t, 'addon', 'plain', k)} | ${lat('plain')} | ${lat('addon')} | ${pct(cp)} / ${pct(ca)} | ${errorsOf(t, 'plain') + errorsOf(t, 'addon')} |`);
    }
    out();
    out('Rates depend on how the two processes get scheduled and move with other work on the machine; the CPU columns (work per GiB / per round trip) move much less. ' +
      'A ratio below 1 in the CPU columns means the addon costs less.');
    out();
  } else if (meta.tests?.includes('addon') && meta.addonUnavailable) {
    out('## 4. The vsock addon\'s stream vs a plain Node unix socket');
    out();
    out(`Not measured: the vsock addon is not usable here (${meta.addonUnavailable}).`);
    out();
  }

  // ---------------------------------------------------------------- 5. headline
  out('## 5. Headline ratios (medians)');
  out();
  if (has('ka')) {
    for (const p of paths.filter((x) => x !== 'direct')) {
      const parts = [`keep-alive ${f2(ratio('ka', p, 'direct'))} of direct at ${f1(med('ka', p, 'proxyUs'))} µs CPU/req`];
      if (has('bulk-up')) parts.push(`bulk up ${f2(ratio('bulk-up', p, 'direct'))} / down ${f2(ratio('bulk-down', p, 'direct'))} of direct at ${f2(med('bulk-up', p, 'proxySecPerGiB'))} / ${f2(med('bulk-down', p, 'proxySecPerGiB'))} CPU s/GiB`);
      out(`- **${p}**: ${parts.join('; ')}`);
    }
    if (paths.includes('host')) {
      for (const ref of ['haproxy', 'socat'].filter((x) => paths.includes(x))) {
        out(`- **host / ${ref}**: keep-alive req/s ${f2(ratio('ka', 'host', ref))}, proxy CPU per request ${f2(ratio('ka', 'host', ref, 'proxyUs'))}` +
          (has('bulk-up') ? `, bulk up ${f2(ratio('bulk-up', 'host', ref))} / down ${f2(ratio('bulk-down', 'host', ref))}, CPU per GiB up ${f2(ratio('bulk-up', 'host', ref, 'proxySecPerGiB'))} / down ${f2(ratio('bulk-down', 'host', ref, 'proxySecPerGiB'))}` : ''));
      }
    }
  }
  if (has('enc')) {
    out(`- **enclave / bare Node https** (GET /private-data): req/s ${f2(ratio('enc', 'enclave', 'bare'))}, server CPU per request ${f2(ratio('enc', 'enclave', 'bare', 'serverUs'))} ` +
      `(${f1(med('enc', 'enclave', 'serverUs'))} vs ${f1(med('enc', 'bare', 'serverUs'))} µs), plus ${f1(med('enc', 'enclave', 'storageUs'))} µs of storage host CPU per request; p50 ${ms(med('enc', 'enclave', 'p50'))} vs ${ms(med('enc', 'bare', 'p50'))} ms, p99 ${ms(med('enc', 'enclave', 'p99'))} vs ${ms(med('enc', 'bare', 'p99'))} ms`);
    if (sel('enc', 'enclave-via-host').length) {
      out(`- **enclave through the host proxy / bare Node https direct**: req/s ${f2(ratio('enc', 'enclave-via-host', 'bare'))}; host proxy ${f1(med('enc', 'enclave-via-host', 'proxyUs'))} µs/req`);
    }
  }
  if (hasAddon) {
    const part = (t, what) => (has(t) ? `${what} **${f2(ratio(t, 'addon', 'plain'))}**` : undefined);
    out(`- **vsock addon stream / plain Node unix socket** (target ≥ ${ADDON_TARGET.toFixed(2)}): ` +
      [part('addon-up', 'bulk up MB/s'), part('addon-down', 'down MB/s'), part('addon-pp', `${P.ADDON_MSG} B ping-pong round trips/s`)].filter(Boolean).join(', ') +
      `; CPU ${[has('addon-up') && `up ${f2(med('addon-up', 'addon', 'cpuSecPerGiB'))} vs ${f2(med('addon-up', 'plain', 'cpuSecPerGiB'))} s/GiB`, has('addon-down') && `down ${f2(med('addon-down', 'addon', 'cpuSecPerGiB'))} vs ${f2(med('addon-down', 'plain', 'cpuSecPerGiB'))} s/GiB`, has('addon-pp') && `${f1(med('addon-pp', 'addon', 'cpuUsPerRt'))} vs ${f1(med('addon-pp', 'plain', 'cpuUsPerRt'))} µs per round trip`].filter(Boolean).join(', ')} (addon vs plain)`);
  }
  out();

  // ---------------------------------------------------------------- 6. validity
  out('## 6. Validity checks');
  out();
  const nz = noise.filter(([, c]) => Number.isFinite(c)).sort((a, b) => b[1] - a[1]);
  if (nz.length) out(`- Coefficient of variation across repetitions: median ${pct(median(nz.map((x) => x[1])))}; largest ${nz.slice(0, 4).map(([n, c]) => `${n} ${pct(c)}`).join(', ')}.`);
  const bad = rows.filter((r) => (r.errors ?? 0) > 0 || !r.ok || r.complete === false);
  out(`- Runs with errors, no result or an incomplete transfer: ${bad.length ? bad.map((r) => `${r.test} ${r.path} rep${r.rep}${r.errors ? ` (${r.errors} errors: ${['err_connect', 'err_read', 'err_write', 'err_status', 'err_timeout'].filter((k) => r.res[k]).map((k) => `${k.slice(4)} ${r.res[k]}`).join(', ')})` : ''}${r.res.error ? ` (${r.res.error})` : ''}${r.complete === false ? ' (incomplete)' : ''}`).join('; ') : 'none'}.`);
  const others = rows.filter((r) => Number.isFinite(r.otherCpu));
  if (others.length) {
    const busyRuns = others.filter((r) => r.otherCpu > OTHER_CPU_FLAG);
    out(`- CPU used by processes the bench did not start (other work on the machine, kernel threads), per load: median ${f2(median(others.map((r) => r.otherCpu)))} cores, ` +
      `largest ${f2(Math.max(...others.map((r) => r.otherCpu)))}; hypervisor steal median ${pct(median(others.map((r) => r.steal)))}. ` +
      (busyRuns.length
        ? `**Loads that shared the machine with more than ${OTHER_CPU_FLAG} of a core of other work** (their figures are suspect; the medians and the paired-ratio ranges show how much it mattered): ${busyRuns.map((r) => `${r.test} ${r.path} rep${r.rep} (${f2(r.otherCpu)})`).join(', ')}.`
        : `No load shared the machine with more than ${OTHER_CPU_FLAG} of a core of other work.`));
  }
  const retried = rows.filter((r) => r.retries?.length);
  if (retried.length) {
    out(`- Loads repeated because other work shared the machine (more than ${OTHER_CPU_FLAG} core; up to ${P.RETRY_BUSY} repeats, the last attempt is recorded): ` +
      retried.map((r) => `${r.test} ${r.path} rep${r.rep} (${r.retries.map((x) => f2(x.otherCpu)).join(', ')})`).join(', ') + '.');
  }
  const reconnects = rows.filter((r) => (r.test === 'ka' || r.test === 'enc') && r.ok && r.tcpOpens > 2 * P.KA_CONNS + 2);
  out(`- Keep-alive runs during which more TCP connections were opened on the machine than the load needs (reconnects, or other work on the machine): ${reconnects.length ? reconnects.map((r) => `${r.test} ${r.path} rep${r.rep}: ${r.tcpOpens}`).join('; ') : 'none'}.`);
  for (const [name, t] of Object.entries(meta.tls ?? {})) {
    out(`- TLS, ${name}: ${t.protocol}, ${t.cipher}, key exchange ${t.group}, certificate ${t.certKey} sha256 ${String(t.certSha256).slice(0, 23)}…; ` +
      `a second connection offering the first one's session was **${t.resumed ? 'RESUMED' : 'not resumed'}**${t.sessionOffered ? '' : ' (the server sent no session ticket)'}.`);
  }
  const tl = Object.values(meta.tls ?? {});
  if (tl.length === 2 && (tl[0].cipher !== tl[1].cipher || tl[0].certSha256 !== tl[1].certSha256 || tl[0].group !== tl[1].group)) {
    out('- **WARNING**: the bare server and the enclave negotiated different TLS parameters or certificates; the comparison is not like for like.');
  }
  if (meta.tls?.enclave?.resumed) {
    out('- The enclave resumes TLS sessions (tickets on, Node default). This does not change the keep-alive figures: wrk opens its connections once per run (see TCP opens) and only reconnects after an error; a new-connection test against the enclave would mix full and resumed handshakes.');
  }
  const portName = Object.fromEntries((meta.instances ?? []).map((i) => [i.port, i.name]));
  // sampled right before and 0.3 s after each load: a socket that appears in between was left by that load
  const lingering = new Map(); // "instance state" -> { samples, max, after: Map }
  const flatten = (m) => {
    const o = new Map();
    for (const [port, states] of Object.entries(m ?? {})) for (const [state, n] of Object.entries(states)) o.set(`${portName[port] ?? port} ${state}`, n);
    return o;
  };
  for (const r of rows) {
    const before = flatten(r.leftoverPre);
    for (const [key, n] of flatten(r.leftover)) {
      const e = lingering.get(key) ?? { samples: 0, max: 0, after: new Map() };
      e.samples += 1;
      e.max = Math.max(e.max, n);
      if (r.leftoverPre && n > (before.get(key) ?? 0)) e.after.set(`${r.test} ${r.path}`, (e.after.get(`${r.test} ${r.path}`) ?? 0) + 1);
      lingering.set(key, e);
    }
  }
  const loads = rows.filter((r) => r.leftover).length;
  out('- Connections still open on a server\'s or proxy\'s listening port, sampled 0.3 s after each load stopped (its client is gone; LISTEN and TIME-WAIT not counted): ' +
    (lingering.size
      ? [...lingering.entries()]
          .map(([k, e]) => `**${k}** in ${e.samples} of ${loads} samples, up to ${e.max} at once, new after ${[...e.after.entries()].map(([t, c]) => `${t} (${c}×)`).join(', ') || 'no recorded load'}`)
          .join('; ') + '. A socket can outlive the next loads; "new after" counts the loads after which one more was open than just before.'
      : 'none.'));
  if (meta.backendStats) out(`- Bare server counters for the whole run (warm-up and probes included): ${meta.backendStats.handshakes} TLS handshakes, ${meta.backendStats.resumed} resumed, ${f0(meta.backendStats.requests)} requests.`);
  if (meta.enclaveCheck) {
    out(`- Response bytes: body ${meta.enclaveCheck.bodyBytes} B from both; header names enclave \`${meta.enclaveCheck.enclaveHeaders}\`, bare \`${meta.enclaveCheck.bareHeaders}\`.`);
  }
  if (Object.keys(meta.foreign ?? {}).length) out(`- Processes not started by the bench were running (left alone): ${JSON.stringify(meta.foreign)}.`);
  if (meta.installed?.length) out(`- Installed with apt-get in this run: ${meta.installed.join(' ')}.`);
  out();

  // ---------------------------------------------------------------- 6. processes
  out('## 7. Processes: memory, CPU, exits, log lines');
  out();
  out('RSS of each process group (MiB) and its open file descriptors at the first sample (after start-up and the enclave set-up, before any load), the largest, and the last (after the last load, before stopping); total CPU seconds since start; how it ended; warning/error lines in its log (JSON `level` warn/error, or any line for programs that are not ours).');
  out();
  out('| process | placement | pid | RSS first / max / last MiB | open fds first / max / last | CPU s total | ended | log warnings / errors |');
  out('|---|---|---:|---:|---:|---:|---|---|');
  const snaps = meta.initial ? [meta.initial] : [];
  for (const r of rows) {
    if (r.pre) snaps.push(r.pre);
    if (r.post) snaps.push(r.post);
  }
  if (meta.final) snaps.push(meta.final);
  const logDir = join(outDir, 'logs');
  for (const i of meta.instances ?? []) {
    const series = snaps.map((s) => s.groups?.[i.pgid]).filter((g) => g && g.nprocs > 0);
    const rss = series.map((g) => g.rssKb);
    const fds = series.map((g) => g.fds);
    const cpu = meta.final?.groups?.[i.pgid]?.cpuTicks;
    let ended = i.exit ? (i.exit.duringRun ? `**died during the run** (code ${i.exit.code}, signal ${i.exit.signal})` : `${i.stoppedBy ?? 'stopped'} -> exit ${i.exit.code ?? i.exit.signal}`) : `${i.stoppedBy ?? '?'}`;
    if (i.stoppedBy === 'SIGKILL') ended = `**did not stop on SIGTERM within 5 s** (SIGKILL)`;
    out(`| ${i.name} | ${i.cpu === 'any' ? 'any' : `CPU ${i.cpu}`} | ${i.pid} | ${mib(rss[0])} / ${mib(Math.max(...rss))} / ${mib(rss[rss.length - 1])} | ${fds[0] ?? '—'} / ${fds.length ? Math.max(...fds) : '—'} / ${fds[fds.length - 1] ?? '—'} | ${f1(cpu / TPS)} | ${ended} | ${logSummary(join(logDir, `${i.name}.log`), i.name)} |`);
  }
  out();

  // ---------------------------------------------------------------- 7. method
  out('## 8. Method, commands, versions');
  out();
  out('Processes (each its own process group, started with setsid; `taskset` execs the program, so no wrapper is measured; `$RUN_DIR` = a mkdtemp directory removed at exit):');
  out('```');
  for (const i of meta.instances ?? []) out(`${i.name} port ${i.port}: ${i.shown}`);
  out('```');
  out('Measurement commands (repetition 1; later repetitions are identical):');
  out('```');
  for (const c of meta.commands ?? []) out(c);
  out('```');
  if (existsSync(join(outDir, 'haproxy.cfg'))) {
    out('<details><summary>haproxy config (one instance per target; ports differ)</summary>');
    out();
    out('```');
    out(readFileSync(join(outDir, 'haproxy.cfg'), 'utf8').trim());
    out('```');
    out('</details>');
    out();
  }
  out(`Tool versions: ${Object.entries(meta.versions ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')}.`);
  out();
  out(`Parameters: \`${Object.entries(P).map(([k, v]) => `${k}=${v}`).join(' ')}\`, PATHS=\`${paths.join(' ')}\`, TESTS=\`${meta.tests.join(' ')}\`.`);
  out();
  return L.join('\n');
}

/** Warning/error lines of a process log: JSON lines by level (msg counts), other lines counted as they are (haproxy, socat, stderr). */
function logSummary(path, name) {
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return '—';
  }
  const counts = new Map();
  let n = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let key;
    if (line.startsWith('{')) {
      try {
        const j = JSON.parse(line);
        if (j.level !== 'warn' && j.level !== 'error') continue;
        key = `${j.level}: ${j.msg}${j.code ? ` (${j.code})` : ''}`;
      } catch {
        key = line.slice(0, 80);
      }
    } else {
      if (/listening on|^STATS /.test(line)) continue; // our own helpers' start line and counters
      key = line.replace(/\d+/g, 'N').slice(0, 80);
    }
    n += 1;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  if (n === 0) return 'none';
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k, c]) => `${c}× ${k.replaceAll('|', '\\|')}`).join('; ') + (counts.size > 3 ? `; … (${counts.size} kinds)` : '');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir || !existsSync(join(dir, 'raw.jsonl'))) {
    process.stderr.write('usage: node bench/lib/report.mjs bench/results/<time>\n');
    process.exit(2);
  }
  process.stdout.write(renderReport(dir));
}
