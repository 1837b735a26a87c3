"""A minimal, strict WebSocket client over raw sockets (standard library only), for the
hostile-input and soak drivers: it can send anything, including what no library would."""

import base64
import hashlib
import os
import socket
import ssl
import struct
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Closed(Exception):
    pass


def connect(port, tls=False, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls:
        # These drivers test the server's behaviour, not certificate checks (other suites do).
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname="localhost")
    return s


def request(key=None, extra=b"", path=b"/", protocol=None):
    if protocol:
        extra = b"Sec-WebSocket-Protocol: " + protocol.encode() + b"\r\n" + extra
    key = key or base64.b64encode(os.urandom(16))
    return (
        b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n" + extra + b"\r\n"
    ), key


def read_http(s, limit=65536):
    """Reads an HTTP response head (and what follows in the same reads); b'' if closed first."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < limit:
        try:
            chunk = s.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        data += chunk
    return data


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length=None):
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n = len(payload) if length is None else length
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if mask:
        key = os.urandom(4)
        head += key
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if len(payload) < 4096 else _mask_fast(payload, key)
    return head + payload


def _mask_fast(payload, key):
    k = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(len(payload), "big")


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise Closed("connection closed")
        buf += chunk
    return buf


def recv_frame(s):
    """(opcode, payload, fin) of the next frame from the server."""
    b0, b1 = recv_exact(s, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", recv_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", recv_exact(s, 8))[0]
    return b0 & 0x0F, recv_exact(s, n), bool(b0 & 0x80)


def close_code(payload):
    return struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005


class _Prefixed:
    """A socket whose first reads return `data` (bytes that came in with the HTTP head)."""

    def __init__(self, sock, data):
        self.sock, self.data = sock, data

    def recv(self, n):
        if self.data:
            chunk, self.data = self.data[:n], self.data[n:]
            return chunk
        return self.sock.recv(n)

    def __getattr__(self, name):
        return getattr(self.sock, name)


class Client:
    """A well-behaved client: upgrade, echo round trips, clean close."""

    def __init__(self, port, tls=False, timeout=5.0, protocol=None, early_data=False):
        self.s = connect(port, tls, timeout)
        req, key = request(protocol=protocol)
        self.s.sendall(req)
        head = read_http(self.s)
        if not head.startswith(b"HTTP/1.1 101"):
            raise Closed("no 101: %r" % head[:80])
        expected = base64.b64encode(hashlib.sha1(key + GUID).digest())
        if b"Sec-WebSocket-Accept: " + expected not in head:
            raise Closed("bad accept key")
        self.pending = head.split(b"\r\n\r\n", 1)[1]
        if self.pending and not early_data:
            raise Closed("unexpected bytes after the 101")
        if self.pending:
            # A server that speaks first (the multiplayer id) may have sent frames with the 101.
            self.s = _Prefixed(self.s, self.pending)

    def send(self, opcode, payload):
        self.s.sendall(frame(opcode, payload))

    def echo(self, text="ping"):
        self.send(1, text.encode())
        op, payload, _ = recv_frame(self.s)
        if op != 1 or payload != text.encode():
            raise Closed("bad echo %r %r" % (op, payload[:40]))

    def close(self, code=1000):
        self.send(8, struct.pack(">H", code))
        op, payload, _ = recv_frame(self.s)
        if op != 8:
            raise Closed("expected a close frame, got opcode %d" % op)
        self.s.close()
        return close_code(payload)


def rss_kib(pid):
    """The resident memory of a live process. A process that has died (a zombie has no VmRSS)
    raises instead of reading as 0 KiB, which would make any growth check pass."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("process %d has no resident memory (it has exited)" % pid)


def mark(port, label, tls=False, protocol=None):
    """Has the echo server print `MARK label`; returns once it has answered, so everything it
    logged before is ahead of the mark in its output."""
    c = Client(port, tls, protocol=protocol)
    c.echo("__mark__ " + label)
    c.close()


def peers(port, tls=False, protocol=None):
    """The number of clients connected to the echo server, not counting the one asking."""
    c = Client(port, tls, protocol=protocol)
    c.send(1, b"__peers__")
    op, payload, _ = recv_frame(c.s)
    c.close()
    if op != 1 or not payload.startswith(b"PEERS "):
        raise Closed("bad answer to __peers__: %r" % payload[:40])
    return int(payload[6:]) - 1


def wait_for_peers(port, count, limit_s=10.0):
    """Waits until the echo server has `count` connected clients (besides the asker); returns
    the last count seen."""
    deadline = time.time() + limit_s
    while True:
        n = peers(port)
        if n == count or time.time() > deadline:
            return n
        time.sleep(0.02)  # polling interval between two questions, not a wait for an event


def read_until_close(s):
    """Reads frames until the peer's close frame."""
    while True:
        op, _, _ = recv_frame(s)
        if op == 8:
            return


def stop_server(port, tls=False, protocol=None):
    """Asks the echo server to quit cleanly, and waits (bounded) until it has closed this
    connection, which it does while stopping: closing first could reset the connection before
    the server has read the request."""
    try:
        c = Client(port, tls, protocol=protocol)
        c.send(1, b"__quit__")
        c.s.settimeout(5)
        read_until_close(c.s)
    except (OSError, Closed):
        pass


def mp_join(port, tls=False, protocol=None):
    """A client of a multiplayer server (`tools/mp_echo_server.tscn`, the engine's
    WebSocketMultiplayerPeer protocol): upgrades and reads its id, the first message."""
    c = Client(port, tls, protocol=protocol, early_data=True)
    op, payload, _ = recv_frame(c.s)
    if op != 2 or len(payload) != 4:
        raise Closed("the first message is not a 4-byte id: opcode %d, %d bytes" % (op, len(payload)))
    return c, struct.unpack("<i", payload)[0]


def mp_raw(c, text):
    """Sends a SceneMultiplayer RAW packet (command 3) and returns the server's RAW answer,
    skipping the system packets (command 7: peers joining and leaving) in between."""
    c.send(2, b"\x03" + text.encode())
    while True:
        op, payload, _ = recv_frame(c.s)
        if op == 2 and payload[:1] == b"\x03":
            return payload[1:].decode()
        if op != 2 or payload[:1] != b"\x07":
            raise Closed("unexpected message: opcode %d %r" % (op, payload[:40]))


def mp_close(c):
    """Closes with 1000 and reads up to the server's close frame."""
    c.send(8, struct.pack(">H", 1000))
    read_until_close(c.s)
    c.s.close()


def mp_mark(port, label, tls=False, protocol=None):
    """`mark` for the multiplayer server: a RAW packet `__mark__ LABEL`, answered once printed."""
    c, _ = mp_join(port, tls, protocol)
    answer = mp_raw(c, "__mark__ " + label)
    if answer != "__mark__ " + label:
        raise Closed("bad answer to the mark: %r" % answer[:40])
    mp_close(c)


def mp_stop_server(port, tls=False, protocol=None):
    """`stop_server` for the multiplayer server: a RAW packet `__quit__`, then waits (bounded)
    for the close frame the server sends every client while closing."""
    try:
        c, _ = mp_join(port, tls, protocol)
        c.send(2, b"\x03__quit__")
        c.s.settimeout(5)
        read_until_close(c.s)
    except (OSError, Closed):
        pass
