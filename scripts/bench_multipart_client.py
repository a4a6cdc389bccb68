"""The multipart flow without the SDK's helper: create a session, fetch every
chunk URL, PUT the chunks with curl (PARALLEL at once, each from a file that
`split` cut from the input), report them all. Prints the seconds from the
first request to the report's answer that carries `url`: the server's side
of the flow, apart from the Python helper's own cost of reading and sending
each chunk.
Usage: bench_multipart_client.py ADDR KEY FILE CHUNK_DIR PARALLEL"""

import json
import os
import subprocess
import sys
import time
import urllib.request

addr, key, path, chunk_dir, parallel = sys.argv[1:]


def call(method, url, body):
    request = urllib.request.Request(
        f"http://{addr}/v1.3{url}", method=method, data=json.dumps(body).encode(),
        headers={"x-api-key": key, "content-type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


started = time.perf_counter()
session = call("POST", "/assets/multipart-uploads",
               {"filename": "bench.mp4", "type": "video", "total_size": os.path.getsize(path)})
upload, total = session["upload_id"], session["total_chunks"]
urls = {u["chunk_index"]: u["url"] for u in session["upload_urls"]}
while len(urls) < total:
    more = call("POST", f"/assets/multipart-uploads/{upload}/presigned-urls",
                {"start": len(urls) + 1, "count": 50})
    urls.update({u["chunk_index"]: u["url"] for u in more["upload_urls"]})
chunks = sorted(os.listdir(chunk_dir))
assert len(chunks) == total, (len(chunks), total)
jobs = "".join(f"{i} {os.path.join(chunk_dir, chunks[i - 1])} {urls[i]}\n" for i in range(1, total + 1))
# One line per PUT, "index ETag", written by curl in one piece.
put = subprocess.run(
    ["xargs", f"-P{parallel}", "-L1", "sh", "-c",
     'curl -sS --fail -o /dev/null -w "$0 %header{etag}\\n" -H "content-type: application/octet-stream" -T "$1" "$2"'],
    input=jobs.encode(), capture_output=True, check=True)
etags = dict(line.split(" ", 1) for line in put.stdout.decode().splitlines())
assert len(etags) == total, put.stderr.decode()
size = session["chunk_size"]
answer = None
for start in range(1, total + 1, 50):
    reports = [{"chunk_index": i, "proof": etags[str(i)].strip('"'), "proof_type": "etag", "chunk_size": size}
               for i in range(start, min(start + 50, total + 1))]
    answer = call("POST", f"/assets/multipart-uploads/{upload}", {"completed_chunks": reports})
assert "url" in answer, answer
print(time.perf_counter() - started)
