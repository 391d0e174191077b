#!/usr/bin/env python3
"""Redis CPU per anomaly touch in a cluster (docs/benchmarks.md, "Cluster mode").

Loads the request-count script from crates/moat-state/src/anomaly_counters.rs
into a throwaway redis-server on a free loopback port and applies batches of
256 touches, as a gateway node does every 50 ms, then reads the server's own
CPU time per call from INFO commandstats:

  * new counts: every touch a subject not seen before (the worst case: many
    clients, one request each per batch);
  * existing counts: the same 256 subjects again and again.

Usage: pip install redis && python3 bench/anomaly_counts.py
"""
import random
import re
import socket
import subprocess
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
SOURCE = (ROOT / "crates/moat-state/src/anomaly_counters.rs").read_text()
SCRIPT = re.search(r'static SLIDE.*?r"\n(.*?)",\n', SOURCE, re.S).group(1)
T0 = 1_800_000_000_000
BATCHES, PER_BATCH = 400, 256


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(r, sha, keys_for, args_for):
    r.config_resetstat()
    for batch in range(BATCHES):
        keys = keys_for(batch)
        args = [a for k in keys for a in args_for(batch)]
        r.evalsha(sha, len(keys), *keys, *args)
    stats = r.info("commandstats")["cmdstat_evalsha"]
    return stats["usec"] / (BATCHES * PER_BATCH)


def main():
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        r = redis.Redis(port=port)
        for _ in range(50):
            try:
                r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        sha = r.script_load(SCRIPT)
        fresh = run(
            r,
            sha,
            lambda b: [f"m:an:scraping-burst:{{{random.getrandbits(64):016x}}}" for _ in range(PER_BATCH)],
            lambda b: [T0 + b, 60000, 1, 0, 1, 0.1818, 1200000],
        )
        same = [f"m:an:error-storm:{{{i:016x}}}" for i in range(PER_BATCH)]
        existing = run(r, sha, lambda b: same, lambda b: [T0 + b * 10, 60000, 1, 1, 1, 0, 120000])
        absent = run(
            r,
            sha,
            lambda b: [f"m:an:error-storm:{{{random.getrandbits(64):016x}}}" for _ in range(PER_BATCH)],
            lambda b: [T0 + b, 60000, 1, 0, 0, 0, 120000],
        )
        print(f"Redis CPU per touch: new count {fresh:.1f} µs, existing count {existing:.1f} µs, "
              f"absent and not created {absent:.1f} µs")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
