"""Times list requests against a running assetd, one at a time on one kept-alive
connection: REPEAT rounds over every request (after a warm-up round), each
request's p50 and p99 in milliseconds and the total_results it answered.
Usage: bench_list_client.py ADDR KEY REPEAT "NAME|PATH"...   (PATH under /v1.3)"""

import http.client
import json
import sys
import time

addr, key, repeat, *requests = sys.argv[1:]
host, port = addr.rsplit(":", 1)
named = [request.split("|", 1) for request in requests]
connection = http.client.HTTPConnection(host, int(port))
times = {name: [] for name, _ in named}
totals = {}
for round_ in range(int(repeat) + 1):
    for name, path in named:
        started = time.perf_counter()
        connection.request("GET", f"/v1.3{path}", headers={"x-api-key": key})
        response = connection.getresponse()
        body = response.read()
        took = (time.perf_counter() - started) * 1000
        if response.status != 200:
            sys.exit(f"{name}: {response.status} {body[:300]!r}")
        if round_ > 0:
            times[name].append(took)
        else:
            answer = json.loads(body)
            totals[name] = (answer["page_info"]["total_results"], len(answer["data"]))
for name, _ in named:
    ordered = sorted(times[name])
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    total, page = totals[name]
    print(f"{name:<22} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  total_results {total:>9}  page {page}")
