"""A plain HTTP/1.1 server for the tests on real traffic.

    slow_server.py PORT [ADDRESS [DELAY_MS]]   (defaults: 127.0.0.1, 300)

Each connection, on a thread of its own: read one request (headers and
Content-Length body), wait DELAY_MS so that a poller of /proc sees the
socket, answer with a fixed response (2 bytes to a POST, 10,000 to anything
else), close. One JSON line per connection on stdout: the client address
and port, the request bytes received and the response bytes sent.
"""
import json
import socket
import sys
import threading
import time

BODY = b"x" * 10000
LOCK = threading.Lock()


def handle(conn, peer, delay):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    time.sleep(delay)
    body = b"ok" if head.startswith(b"POST") else BODY
    response = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body
    try:
        conn.sendall(response)
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):
            pass
    except OSError:
        # The client went first (it sent its request and left).
        pass
    conn.close()
    with LOCK:
        print(json.dumps({"ip": peer[0], "port": peer[1], "received": len(head) + 4 + len(rest), "sent": len(response)}), flush=True)


def serve(port, address, delay):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((address, port))
    srv.listen(128)
    print(json.dumps({"ready": port}), flush=True)
    while True:
        conn, peer = srv.accept()
        threading.Thread(target=handle, args=(conn, peer, delay), daemon=True).start()


if __name__ == "__main__":
    port = int(sys.argv[1])
    address = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    delay = int(sys.argv[3]) / 1000 if len(sys.argv) > 3 else 0.3
    serve(port, address, delay)
