"""Times COUNT direct uploads of one small file, one at a time on one
kept-alive connection (after a few for warm-up): p50 and p99 in milliseconds
from the request to the 201.
With NAME_FILTERS=N, first lists the assets filtered by N names that every
upload holds (substrings of small.png), so that each create also keeps N
filename filters' totals (db::assets::NameTotal), the most a server keeps
per account is 32.
Usage: bench_create_client.py ADDR KEY FILE COUNT"""

import http.client
import os
import sys
import time
import urllib.parse

addr, key, path, count = sys.argv[1:]
host, port = addr.rsplit(":", 1)
with open(path, "rb") as f:
    data = f.read()
boundary = "assetdbenchboundary"
body = (
    f"--{boundary}\r\nContent-Disposition: form-data; name=\"method\"\r\n\r\ndirect\r\n"
    f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"small.png\"\r\n"
    "Content-Type: image/png\r\n\r\n"
).encode() + data + f"\r\n--{boundary}--\r\n".encode()
headers = {"x-api-key": key, "content-type": f"multipart/form-data; boundary={boundary}"}
connection = http.client.HTTPConnection(host, int(port))
name = "small.png"
needles = sorted({name[i:j] for i in range(len(name)) for j in range(i + 1, len(name) + 1)})


def ask_name_filters():
    """After the warm-up's uploads: a total is kept for an account with assets."""
    for needle in needles[: int(os.environ.get("NAME_FILTERS", "0"))]:
        connection.request("GET", f"/v1.3/assets?filename={urllib.parse.quote(needle)}", headers=headers)
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200 or b'"total_results":10' not in answer:
            sys.exit(f"{response.status} {answer[:300]!r}")
    time.sleep(1)  # the server keeps each total after its answer


times = []
for n in range(int(count) + 10):
    if n == 10:
        ask_name_filters()
    started = time.perf_counter()
    connection.request("POST", "/v1.3/assets", body=body, headers=headers)
    response = connection.getresponse()
    answer = response.read()
    if response.status != 201:
        sys.exit(f"{response.status} {answer[:300]!r}")
    if n >= 10:
        times.append((time.perf_counter() - started) * 1000)
times.sort()
print(f"{times[len(times) // 2]:.2f} {times[min(len(times) - 1, int(len(times) * 0.99))]:.2f}")
