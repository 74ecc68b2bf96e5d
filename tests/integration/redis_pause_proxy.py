#!/usr/bin/env python3
"""A TCP proxy in front of redis-server that pauses Redis at one chosen moment.

    redis_pause_proxy.py --listen PORT --redis PORT --redis-pid PID \
        --match BYTES [--match BYTES ...] --pause-s N --port-file F --log F

Forwards every connection to Redis unchanged. The first time one write of a
client holds every --match byte string, Redis is stopped (SIGSTOP) just
before that write is passed on, and resumed (SIGCONT) --pause-s seconds
later: the client's command waits in Redis's socket while the client times
out and gives up on it, and Redis, resumed, runs it anyway; its reply goes
nowhere. One line per event goes to --log ("paused", "resumed").
"""
import argparse
import asyncio
import os
import signal
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=int, default=0)
    ap.add_argument("--redis", type=int, required=True)
    ap.add_argument("--redis-pid", type=int, required=True)
    ap.add_argument("--match", action="append", required=True)
    ap.add_argument("--pause-s", type=float, default=5.0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    needles = [m.encode() for m in a.match]
    state = {"fired": False}

    def note(text):
        with open(a.log, "a") as f:
            f.write(f"{time.time():.3f} {text}\n")

    async def resume_later():
        await asyncio.sleep(a.pause_s)
        os.kill(a.redis_pid, signal.SIGCONT)
        note("resumed")

    async def pipe(reader, writer, watch):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if watch and not state["fired"] and all(n in data for n in needles):
                    state["fired"] = True
                    os.kill(a.redis_pid, signal.SIGSTOP)
                    note("paused")
                    asyncio.get_running_loop().create_task(resume_later())
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                writer.close()
            except OSError:
                pass

    async def client(creader, cwriter):
        try:
            rreader, rwriter = await asyncio.open_connection("127.0.0.1", a.redis)
        except OSError:
            cwriter.close()
            return
        await asyncio.gather(pipe(creader, rwriter, True), pipe(rreader, cwriter, False))

    async def run():
        server = await asyncio.start_server(client, "127.0.0.1", a.listen)
        port = server.sockets[0].getsockname()[1]
        with open(a.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.rename(a.port_file + ".tmp", a.port_file)
        async with server:
            await server.serve_forever()

    asyncio.run(run())


if __name__ == "__main__":
    main()
