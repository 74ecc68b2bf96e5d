#!/usr/bin/env python3
"""Slow HTTP clients, for the connection limits (test_limits.sh).

    slow_clients.py hold HOST PORT N SECONDS
        Opens N connections from the default source address, sends a
        request's first header line and then one more header byte every
        second on each (never finishing the headers), for SECONDS. Prints
        "held=K" once a second: connections the server has not closed.

    slow_clients.py body HOST PORT LENGTH
        Sends a POST's headers announcing a LENGTH-byte body, then the body a
        byte a second until the server closes the connection. Prints
        "closed_after_s=S sent=B".
"""
import select
import socket
import sys
import time


def alive(s):
    """1 while the server has not closed s (no EOF or reset waiting)."""
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return True
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except OSError:
        return False


def hold(host, port, n, seconds):
    socks = []
    for _ in range(n):
        s = socket.socket()
        try:
            s.connect((host, port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append(s)
        except OSError:
            s.close()
    end = time.time() + seconds
    while time.time() < end:
        time.sleep(1)
        live = []
        for s in socks:
            try:
                if alive(s):
                    s.send(b"a")
                    live.append(s)
                    continue
            except OSError:
                pass
            s.close()
        socks = live
        print("held=%d" % len(socks), flush=True)


def body(host, port, length):
    s = socket.create_connection((host, port))
    s.sendall(b"POST /csr/process HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % length)
    t0, sent = time.time(), 0
    while sent < length:
        time.sleep(1)
        if not alive(s):
            break
        try:
            s.send(b" ")
        except OSError:
            break
        sent += 1
    print("closed_after_s=%d sent=%d" % (int(time.time() - t0), sent), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "hold":
        hold(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    else:
        body(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
