-- wrk done() hook: one JSON line with exact percentiles in µs (from
-- ../shared/bench-kit/lib/wrk-json.lua). wrk's own summary rounds them.
-- Headers given with -H still apply.
done = function(summary, latency, requests)
  local e = summary.errors
  if summary.requests == 0 then
    io.write(string.format('\nJSON {"error":"no requests completed","err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
      e.connect, e.read, e.write, e.status, e.timeout))
    return
  end
  io.write(string.format(
    '\nJSON {"requests":%d,"duration_us":%d,"bytes":%d,"rps":%.1f,' ..
    '"lat_mean_us":%.1f,"lat_p50_us":%d,"lat_p90_us":%d,"lat_p99_us":%d,"lat_max_us":%d,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    summary.requests / (summary.duration / 1e6),
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
