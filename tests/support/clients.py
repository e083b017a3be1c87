"""Clients for the kernel-source tests; each prints one JSON line on stdout
with its pid and the local port of every connection it made.

    clients.py gets HOST PORT N     N GETs, a new connection each
    clients.py dns HOST PORT        one DNS query (A example.com) over UDP
"""
import json
import os
import socket
import struct
import sys


def gets(host, port, n):
    ports = []
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for i in range(n):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.connect((host, port))
        ports.append(s.getsockname()[1])
        s.sendall(b"GET /py/%d HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n" % i)
        while s.recv(65536):
            pass
        s.close()
    return ports


def dns(host, port):
    query = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for label in b"example.com".split(b"."):
        query += bytes([len(label)]) + label
    query += b"\x00" + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(query, (host, port))
    local = s.getsockname()[1]
    s.recvfrom(512)
    s.close()
    return [local]


def responder(host, port):
    """Answers every query with its own bytes, the response bit set."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, port))
    print(json.dumps({"ready": port}), flush=True)
    while True:
        data, peer = s.recvfrom(512)
        if len(data) >= 4:
            s.sendto(data[:2] + bytes([data[2] | 0x80]) + data[3:], peer)


if __name__ == "__main__":
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "responder":
        responder(host, port)
    ports = gets(host, port, int(sys.argv[4])) if mode == "gets" else dns(host, port)
    print(json.dumps({"pid": os.getpid(), "ports": ports}), flush=True)
