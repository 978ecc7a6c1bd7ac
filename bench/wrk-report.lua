-- wrk-report.lua: bench/suite's wrk script. It adds nothing to the
-- requests; at the end it prints one line with the figures the suite
-- reads: requests, run time, bytes read, latency percentiles and errors.
done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("WRK requests=%d duration_us=%d bytes=%d " ..
	    "p50_us=%d p99_us=%d max_us=%d errors=%d status_errors=%d\n",
	    summary.requests, summary.duration, summary.bytes,
	    latency:percentile(50), latency:percentile(99), latency.max,
	    e.connect + e.read + e.write + e.timeout, e.status))
end
