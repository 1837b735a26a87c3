"""Hostile input against a WebSocketServer hosted in headless Godot (tools/echo_server.tscn).

After every case a well-behaved client connected before the suite started must still exchange
messages, and a new client must still get in: nobody else is disturbed. Each case expects the
right HTTP error or close code. Each case is bracketed by `MARK begin hostile.NAME` and
`MARK end hostile.NAME` lines in both servers' logs (the `__mark__` control message), and for each
line a passed case expects in a server's log the driver prints
`EXPECT-LOG hostile.NAME SERVER COUNT TEXT`: the harness (xtask/src/external.rs) fails the case
by name unless that server logged TEXT at least COUNT times between the case's own marks.
Prints one line per case, the server's resident memory, and `N passed, N failed`.

usage: hostile.py --port P --pid PID --tls-port T   (servers run with --inbound=1048576 --outbound=65535)
"""

import argparse
import os
import selectors
import socket
import struct
import sys
import time
import traceback

from wsclient import Client, Closed, close_code, connect, frame, mark, read_http, recv_frame, request, rss_kib

ARGS = None
CASES = []


def case(*expect_log):
    """Registers a case. Each `expect_log` item is TEXT (the plain server must log it once
    during the case) or (SERVER, TEXT, COUNT), SERVER being "plain" or "tls"."""
    expects = [("plain", e, 1) if isinstance(e, str) else e for e in expect_log]

    def wrap(f):
        CASES.append((f, expects))
        return f
    return wrap


def expect_close(s, code, what):
    """Reads until the server's close frame; checks its code."""
    s.settimeout(5)
    try:
        while True:
            op, payload, _ = recv_frame(s)
            if op == 8:
                got = close_code(payload)
                assert got == code, "%s: close code %d, expected %d" % (what, got, code)
                return
    except Closed:
        raise AssertionError("%s: closed without a close frame (expected %d)" % (what, code))
    finally:
        s.close()


def upgraded():
    c = Client(ARGS.port)
    return c.s


def http_status(raw, what, limit=65536):
    s = connect(ARGS.port)
    try:
        for i in range(0, len(raw), 4096):
            s.sendall(raw[i : i + 4096])
    except (BrokenPipeError, ConnectionResetError):
        pass
    head = read_http(s, limit)
    s.close()
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    return status, head


@case("refused a WebSocket upgrade from 127.0.0.1")
def random_bytes_instead_of_a_handshake():
    status, _ = http_status(os.urandom(2000) + b"\r\n\r\n", "random")
    assert status.startswith("HTTP/1.1 400"), status


@case()
def handshake_in_one_byte_writes():
    s = connect(ARGS.port)
    req, _ = request()
    for b in req:
        s.send(bytes([b]))
        time.sleep(0.0005)  # the pause between 1-byte writes is the test: each arrives alone
    head = read_http(s)
    assert head.startswith(b"HTTP/1.1 101"), head[:60]
    s.sendall(frame(1, b"slow but fine"))
    op, payload, _ = recv_frame(s)
    assert payload == b"slow but fine"
    s.close()


@case("HTTP 431")
def oversized_request_headers():
    req, _ = request(extra=b"X-Big: " + b"a" * 65536 + b"\r\n")
    status, _ = http_status(req, "big")
    assert status.startswith("HTTP/1.1 431"), status


@case(("plain", "Sec-WebSocket-Key", 2), "HTTP 426")
def missing_and_invalid_key_or_version():
    req = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"
    status, _ = http_status(req, "no key")
    assert status.startswith("HTTP/1.1 400"), status
    req, _ = request(key=b"not-base64-16")
    status, _ = http_status(req, "bad key")
    assert status.startswith("HTTP/1.1 400"), status
    req, _ = request()
    status, head = http_status(req.replace(b"Version: 13", b"Version: 8"), "bad version")
    assert status.startswith("HTTP/1.1 426") and b"Sec-WebSocket-Version: 13" in head, status


@case("timed out before the WebSocket handshake completed")
def slowloris_is_cut_after_the_handshake_timeout():
    s = connect(ARGS.port, timeout=10)
    # Half a request, then nothing: the server must cut it at handshake_timeout (3 s).
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    t0 = time.time()
    while True:
        try:
            if s.recv(100) == b"":
                break
        except ConnectionResetError:
            break
    waited = time.time() - t0
    assert 2.5 <= waited < 8, "dropped after %.1f s (handshake_timeout is 3 s)" % waited
    print("      slowloris dropped after %.2f s" % waited)


@case()
def thousand_connections_opened_and_dropped_at_once():
    socks = []
    for i in range(1000):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", ARGS.port))
        socks.append(s)
    # Wait (bounded) until every connection is established: writable, with no socket error.
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_WRITE)
    established = settled = 0
    deadline = time.time() + 10
    while settled < len(socks) and time.time() < deadline:
        for key, _ in sel.select(timeout=max(0.0, deadline - time.time())):
            sel.unregister(key.fileobj)
            settled += 1
            if key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                established += 1
    sel.close()
    assert established == len(socks), "only %d of %d connections were established" % (established, len(socks))
    for i, s in enumerate(socks):
        if i % 3 == 0:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset
        try:
            if i % 3 == 1:
                s.send(b"GET / HTTP/1.1\r\n")
        except OSError:
            pass
        s.close()
    print("      opened and dropped %d connections" % len(socks))


@case("with code 1002: an unmasked frame from a client")
def unmasked_client_frame():
    expect_close_after(frame(1, b"not masked", mask=False), 1002, "unmasked")


def expect_close_after(data, code, what):
    s = upgraded()
    s.sendall(data)
    expect_close(s, code, what)


@case(("plain", "with code 1002", 4))
def reserved_bits_and_opcodes():
    expect_close_after(frame(1, b"rsv1", rsv=4), 1002, "RSV1")
    expect_close_after(frame(1, b"rsv3", rsv=1), 1002, "RSV3")
    expect_close_after(frame(3, b"data opcode 3"), 1002, "opcode 3")
    expect_close_after(frame(11, b"control opcode 11"), 1002, "opcode 11")


@case(("plain", "with code 1002", 2))
def control_frames_too_big_or_fragmented():
    expect_close_after(frame(9, b"x" * 126), 1002, "126-byte ping")
    expect_close_after(frame(9, b"half", fin=False), 1002, "fragmented ping")


@case(("plain", "with code 1007", 2))
def invalid_utf8_in_text_and_close_reason():
    expect_close_after(frame(1, b"ok \xff\xfe"), 1007, "text")
    expect_close_after(frame(8, struct.pack(">H", 1000) + b"\xff"), 1007, "close reason")


@case(("plain", "with code 1002", 8))
def invalid_close_codes():
    for code in (0, 999, 1004, 1005, 1006, 1015, 2999, 5000):
        expect_close_after(frame(8, struct.pack(">H", code)), 1002, "close code %d" % code)


@case("with code 1002: close frame with a 1-byte payload")
def one_byte_close_payload():
    expect_close_after(frame(8, b"\x03"), 1002, "one-byte close payload")


@case("with code 1009")
def frame_length_of_two_to_the_63():
    expect_close_after(frame(2, b"tiny", length=(1 << 63) - 1), 1009, "2^63 length")


@case("with code 1009")
def message_over_inbound_buffer_size():
    # 3 fragments of 512 KiB: over the server's 1 MiB inbound_buffer_size.
    part = b"a" * (512 * 1024)
    expect_close_after(frame(1, part, fin=False) + frame(0, part, fin=False) + frame(0, part), 1009, "1.5 MiB message")


@case()
def client_that_stops_reading_while_the_server_sends():
    s = upgraded()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    before = rss_kib(ARGS.pid)
    payload = frame(2, b"z" * 65000)
    sent = 0
    s.settimeout(0.5)
    deadline = time.time() + 20
    try:
        while sent < 200 * 1024 * 1024 and time.time() < deadline:
            s.sendall(payload)
            sent += len(payload)
    except (socket.timeout, BrokenPipeError, ConnectionResetError):
        pass
    # Instead of a pause: another client's round trip shows the server has polled since the
    # last write, so what it could take of the pushed data is in its memory now.
    barrier = Client(ARGS.port)
    barrier.echo("barrier")
    barrier.close()
    after = rss_kib(ARGS.pid)
    s.close()
    grown = (after - before) / 1024
    print("      pushed %.0f MiB without reading: server RSS %.1f -> %.1f MiB (%+.1f MiB)" % (sent / 2**20, before / 1024, after / 1024, grown))
    assert grown < 48, "server memory grew by %.1f MiB" % grown


@case()
def tcp_reset_mid_frame():
    s = upgraded()
    s.sendall(frame(2, b"q" * 10000)[:5000])
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


@case(("tls", "TLS error", 1), "refused a WebSocket upgrade")
def plain_http_to_the_tls_server_and_tls_to_the_plain_server():
    s = socket.create_connection(("127.0.0.1", ARGS.tls_port), timeout=5)
    req, _ = request()
    s.sendall(req)
    reply = read_http(s)
    s.close()
    assert not reply.startswith(b"HTTP/1.1 101"), reply[:40]
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", ARGS.port), timeout=5)
    try:
        t = ctx.wrap_socket(raw, server_hostname="localhost")
        t.close()
        raise AssertionError("TLS handshake with the plain server succeeded")
    except (ssl.SSLError, ConnectionResetError, OSError):
        pass
    # The TLS server still serves TLS clients.
    c = Client(ARGS.tls_port, tls=True)
    c.echo("over tls")
    c.close()


def mark_both(label):
    mark(ARGS.port, label)
    mark(ARGS.tls_port, label, tls=True)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--tls-port", type=int, required=True)
    ARGS = p.parse_args()
    sentinel = Client(ARGS.port)
    sentinel.echo("before")
    passed = failed = 0
    for f, expects in CASES:
        name = "hostile." + f.__name__
        t0 = time.time()
        try:
            mark_both("begin " + name)
            f()
            sentinel.echo("after " + f.__name__)
            fresh = Client(ARGS.port)
            fresh.echo("fresh")
            fresh.close()
            mark_both("end " + name)
            passed += 1
            print("  ok    %s (%d ms)" % (name, (time.time() - t0) * 1000), flush=True)
            for server, text, count in expects:
                print("EXPECT-LOG %s %s %d %s" % (name, server, count, text), flush=True)
        except Exception as e:
            failed += 1
            print("  FAIL  %s: %s" % (name, e), flush=True)
            traceback.print_exc(limit=2)
            try:
                sentinel = Client(ARGS.port)
            except Exception:
                pass
    # The sentinel, connected through all the cases, still closes with a clean 1000.
    name = "hostile.sentinel_closes_cleanly_after_all_cases"
    try:
        code = sentinel.close(1000)
        assert code == 1000, "the server answered the close with %d" % code
        passed += 1
        print("  ok    %s" % name, flush=True)
    except Exception as e:
        failed += 1
        print("  FAIL  %s: %s" % (name, e), flush=True)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
