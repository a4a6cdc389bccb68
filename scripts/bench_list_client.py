"""Times list requests against a running assetd, one at a time on one kept-alive
connection: REPEAT rounds over every request (after a warm-up round), each
request's p50 and p99 in milliseconds and the total_results it answered (in
the warm-up round).
Each round starts by deleting the account's newest asset (not timed), as
uploads and deletes go on beside a list: a name's matches include the
changes not yet folded into the postings.
Usage: bench_list_client.py ADDR KEY REPEAT "NAME|PATH"...   (PATH under /v1.3)"""

import http.client
import json
import os
import sys
import time

addr, key, repeat, *requests = sys.argv[1:]
host, port = addr.rsplit(":", 1)
named = [request.split("|", 1) for request in requests]
connection = http.client.HTTPConnection(host, int(port))
times = {name: [] for name, _ in named}
totals = {}
fresh = []
if "FRESH_NEEDLES" in os.environ:
    with open(os.environ["FRESH_NEEDLES"]) as lines:
        fresh = [line.strip() for line in lines if line.strip()]


def call(method, path):
    connection.request(method, f"/v1.3{path}", headers={"x-api-key": key})
    response = connection.getresponse()
    body = response.read()
    if response.status not in (200, 204):
        sys.exit(f"{method} {path}: {response.status} {body[:300]!r}")
    return body


for round_ in range(int(repeat) + 1):
    newest = json.loads(call("GET", "/assets?page_limit=1"))["data"][0]["_id"]
    call("DELETE", f"/assets/{newest}")
    for name, path in named:
        if "{fresh}" in path:
            if round_ >= len(fresh):
                continue
            path = path.replace("{fresh}", fresh[round_])
        started = time.perf_counter()
        body = call("GET", path)
        took = (time.perf_counter() - started) * 1000
        if round_ > 0:
            times[name].append(took)
        else:
            answer = json.loads(body)
            totals[name] = (answer["page_info"]["total_results"], len(answer["data"]))
for name, _ in named:
    ordered = sorted(times[name])
    if not ordered:
        sys.exit(f"{name}: no round timed it (FRESH_NEEDLES?)")
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    total, page = totals[name]
    print(f"{name:<27} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  total_results {total:>9}  page {page}"
          f"  ({len(ordered)} rounds)")
