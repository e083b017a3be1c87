"""A plain HTTP/1.1 server for the /proc attribution test.

Each connection: read one request (headers and Content-Length body), wait
300 ms so that a poller of /proc sees the socket, answer with a fixed
response, close. One JSON line per connection on stdout: the client port,
the request bytes received and the response bytes sent.
"""
import json
import socket
import sys
import time

BODY = b"x" * 10000

def serve(port):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    print(json.dumps({"ready": port}), flush=True)
    while True:
        conn, peer = srv.accept()
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
        time.sleep(0.3)
        if head.startswith(b"POST"):
            body = b"ok"
        else:
            body = BODY
        response = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body
        conn.sendall(response)
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):
            pass
        conn.close()
        print(json.dumps({"port": peer[1], "received": len(head) + 4 + len(rest), "sent": len(response)}), flush=True)

if __name__ == "__main__":
    serve(int(sys.argv[1]))
