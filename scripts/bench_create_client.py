"""Times COUNT direct uploads of one small file, one at a time on one
kept-alive connection (after a few for warm-up): p50 and p99 in milliseconds
from the request to the 201.
Usage: bench_create_client.py ADDR KEY FILE COUNT"""

import http.client
import sys
import time

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
times = []
for n in range(int(count) + 10):
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
