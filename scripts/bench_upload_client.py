"""Sends one multipart upload as fast as the kernel can (sendfile), so that the
client is not what the upload benchmark measures. Prints seconds and the status line."""
import os
import socket
import sys
import time

host, port, key, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
size = os.path.getsize(path)
boundary = "assetdbenchboundary"
pre = (
    f"--{boundary}\r\nContent-Disposition: form-data; name=\"method\"\r\n\r\ndirect\r\n"
    f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"input.mp4\"\r\n"
    "Content-Type: application/octet-stream\r\n\r\n"
).encode()
post = f"\r\n--{boundary}--\r\n".encode()
head = (
    f"POST /v1.3/assets HTTP/1.1\r\nHost: {host}:{port}\r\nx-api-key: {key}\r\n"
    f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
    f"Content-Length: {len(pre) + size + len(post)}\r\nConnection: close\r\n\r\n"
).encode()

start = time.monotonic()
with socket.create_connection((host, port)) as s, open(path, "rb") as f:
    s.sendall(head + pre)
    s.sendfile(f)
    s.sendall(post)
    response = b""
    while chunk := s.recv(65536):
        response += chunk
elapsed = time.monotonic() - start
status, _, rest = response.partition(b"\r\n")
body = rest.partition(b"\r\n\r\n")[2].decode(errors="replace")
print(f"{elapsed:.4f} {status.decode()} {body}")
