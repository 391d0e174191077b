#!/usr/bin/env python3
"""Resident memory of a running moat with many idle keep-alive connections.

usage: idle-memory.py PID HOST:PORT COUNT

Opens COUNT connections to HOST:PORT, sends one request on each and reads
its answer (so every connection has served a request and sits idle in
keep-alive), then closes them all. Prints moat's VmRSS before, with the
connections open, and 2 s and 10 s after they closed. Needs `ulimit -n`
above COUNT and moat's `max_connections` / `max_connections_per_client`
above COUNT.
"""
import socket
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit("no VmRSS")


def read_answer(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("connection closed before the answer")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        body += s.recv(65536)


def main():
    pid, addr, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    host, port = addr.rsplit(":", 1)
    before = rss_kib(pid)
    socks = []
    request = b"GET /not-in-the-document HTTP/1.1\r\nHost: moat\r\n\r\n"
    for _ in range(count):
        s = socket.create_connection((host, int(port)))
        s.sendall(request)
        read_answer(s)
        socks.append(s)
    time.sleep(1)
    opened = rss_kib(pid)
    for s in socks:
        s.close()
    time.sleep(2)
    after2 = rss_kib(pid)
    time.sleep(8)
    after10 = rss_kib(pid)
    per = (opened - before) * 1024 / count
    print(f"connections={count} rss_before_kib={before} rss_open_kib={opened} "
          f"per_connection_bytes={per:.0f} rss_closed_2s_kib={after2} "
          f"rss_closed_10s_kib={after10} kept_after_close_kib={after10 - before}")


main()
