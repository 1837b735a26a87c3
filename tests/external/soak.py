"""Leak and soak check: many connect / exchange / close cycles against one WebSocketServer
hosted in headless Godot; prints the server's resident memory at the start and the end and fails
if it grew beyond a small bound.

usage: soak.py --port P --pid PID [--cycles 20000] [--workers 4] [--bound-mib 16]
"""

import argparse
import sys
import threading
import time

from wsclient import Client, rss_kib, wait_for_peers


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--cycles", type=int, default=20000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--bound-mib", type=float, default=16.0)
    a = p.parse_args()

    errors = []
    lock = threading.Lock()

    def cycles(n, worker):
        for i in range(n):
            try:
                c = Client(a.port)
                c.echo("soak %d.%d" % (worker, i))
                code = c.close()
                if code != 1000:
                    raise RuntimeError("close code %d" % code)
            except Exception as e:
                with lock:
                    errors.append(repr(e))
                    if len(errors) > 20:
                        return

    def run(total, limit_s):
        per = total // a.workers
        threads = [threading.Thread(target=cycles, args=(per, w), daemon=True) for w in range(a.workers)]
        for t in threads:
            t.start()
        deadline = time.time() + limit_s
        for t in threads:
            t.join(max(0.0, deadline - time.time()))
        hung = sum(t.is_alive() for t in threads)
        if hung:
            with lock:
                errors.append("%d of %d workers still running after %d s" % (hung, a.workers, limit_s))
        return per * a.workers

    def settled():
        """Waits (bounded) until the server has dropped every client of the cycles: the memory
        is then measured with no connection of ours alive."""
        left = wait_for_peers(a.port, 0)
        if left:
            with lock:
                errors.append("%d clients still connected 10 s after their cycles closed" % left)

    warm = run(1000, 300)  # let allocators and the kernel settle first
    settled()
    start_rss = rss_kib(a.pid)
    t0 = time.time()
    done = run(a.cycles, 780)
    secs = time.time() - t0
    settled()
    end_rss = rss_kib(a.pid)
    grown = (end_rss - start_rss) / 1024
    print("soak: %d + %d warm-up cycles in %.1f s (%.0f cycles/s)" % (done, warm, secs, done / secs))
    print("soak: server resident memory %.1f MiB at the start, %.1f MiB at the end (%+.2f MiB)" % (start_rss / 1024, end_rss / 1024, grown))
    ok = not errors and grown < a.bound_mib
    if errors:
        print("soak: %d errors, first: %s" % (len(errors), errors[0]))
    if grown >= a.bound_mib:
        print("soak: memory grew by more than %.0f MiB" % a.bound_mib)
    print("%d passed, %d failed" % (int(ok), int(not ok)))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
