"""A small HTTP/1.1 server for the load generator's self-test.

POST answers 202 with {"request_id": "id-N", "status": "queued"} in chunks
(with a chunk extension and a trailer); with a Prefer header, every other
POST answers 201 with status "issued" instead (a one-call answer); GET
.../id-N answers 200 with status "queued" the first time it is asked about
id-N and "issued" the second time;
every fifth GET answer closes the connection. Prints "ready PORT" once
listening.
"""
import http.server
import itertools
import json
import sys
import threading

CHUNK = 7
CLOSE_EVERY = 5

lock = threading.Lock()
ids = itertools.count()
gets = itertools.count()
polls = {}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        with lock:
            n = next(ids)
        done = "Prefer" in self.headers and n % 2 == 0
        body = json.dumps({"request_id": f"id-{n}",
                           "status": "issued" if done else "queued"}).encode()
        self.send_response(201 if done else 202)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for k in range(0, len(body), CHUNK):
            part = body[k:k + CHUNK]
            self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\nX-Trailer: 1\r\n\r\n")

    def do_GET(self):
        rid = self.path.rsplit("/", 1)[1].split("?")[0]
        with lock:
            polls[rid] = polls.get(rid, 0) + 1
            state = "queued" if polls[rid] == 1 else "issued"
            close = next(gets) % CLOSE_EVERY == 0
        body = json.dumps({"request_id": rid, "status": state}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.request_queue_size = 128
print("ready", srv.server_address[1], flush=True)
srv.serve_forever()
