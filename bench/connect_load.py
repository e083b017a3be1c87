"""Loopback connection load for bench/ebpf.sh.

    connect_load.py PROCESSES CONNECTIONS_EACH

Starts a listener on 127.0.0.1 (accepting and closing on threads of its
own), then PROCESSES client processes, each opening and closing
CONNECTIONS_EACH connections as fast as it can. Prints one JSON line: the
connections made, the seconds they took, the rate.
"""
import json
import multiprocessing
import socket
import sys
import threading
import time


def accept_loop(srv):
    while True:
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        conn.close()


def client(port, n, go):
    go.wait()
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.connect(("127.0.0.1", port))
        s.close()


def main():
    procs, each = int(sys.argv[1]), int(sys.argv[2])
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4096)
    port = srv.getsockname()[1]
    for _ in range(2):
        threading.Thread(target=accept_loop, args=(srv,), daemon=True).start()
    go = multiprocessing.Event()
    workers = [multiprocessing.Process(target=client, args=(port, each, go)) for _ in range(procs)]
    for w in workers:
        w.start()
    began = time.monotonic()
    go.set()
    for w in workers:
        w.join()
    took = time.monotonic() - began
    total = procs * each
    print(json.dumps({"connections": total, "seconds": round(took, 3), "per_second": round(total / took)}))


if __name__ == "__main__":
    main()
