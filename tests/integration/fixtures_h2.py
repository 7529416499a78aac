"""A raw HTTP/2 client for hostile-framing tests: frames written by hand over a socket (RFC
9113 section 4: 9-byte header, then the payload), header blocks as HPACK literals without
indexing or Huffman coding (RFC 7541 section 6.2.2), so a test can send what no gRPC library
would: a length prefix longer than the data, the compressed flag without grpc-encoding, a
20 KiB header block, a connection that stops after the preface."""

import socket
import struct
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0x0, 0x1, 0x3, 0x4, 0x6, 0x7, 0x8, 0x9)
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream & 0x7FFFFFFF) + payload


def _hpack_len(n, prefix_bits=7, first=0x00):
    limit = (1 << prefix_bits) - 1
    if n < limit:
        return bytes([first | n])
    out = [first | limit]
    n -= limit
    while n >= 128:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def hpack(headers):
    """A header block of literal fields without indexing (new names, no Huffman)."""
    out = b""
    for name, value in headers:
        name, value = name.encode(), value.encode() if isinstance(value, str) else value
        out += b"\x00" + _hpack_len(len(name)) + name + _hpack_len(len(value)) + value
    return out


def grpc_headers(address, path, extra=()):
    return [(":method", "POST"), (":scheme", "http"), (":path", path),
            (":authority", address), ("content-type", "application/grpc"),
            ("te", "trailers")] + list(extra)


def grpc_message(body, compressed=False, declared_len=None):
    n = len(body) if declared_len is None else declared_len
    return bytes([1 if compressed else 0]) + struct.pack(">I", n) + body


def _hpack_int(data, i, prefix_bits):
    limit = (1 << prefix_bits) - 1
    n = data[i] & limit
    i += 1
    if n < limit:
        return n, i
    shift = 0
    while True:
        b = data[i]
        i += 1
        n += (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


class H2Conn:
    """One HTTP/2 connection: send frames, read frames, answer SETTINGS and PING."""

    def __init__(self, address, timeout=10.0, preface=True):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.closed = False
        if preface:
            # SETTINGS_HEADER_TABLE_SIZE 0: no dynamic table, so every answer field is a
            # literal grpc_fields() can read
            self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0, struct.pack(">HI", 1, 0)))
            self.settle(time.monotonic() + timeout)

    def settle(self, deadline):
        """Read until the server's SETTINGS arrived (read_frame acknowledges them): core applies
        its own limits (max header list size) only once the peer acknowledged them."""
        while True:
            ftype, flags, _, _ = self.read_frame(deadline)
            if ftype == SETTINGS and not flags & ACK:
                return

    def send(self, data):
        self.sock.sendall(data)

    def headers(self, stream, headers, end_stream=False, end_headers=True):
        """HEADERS, then CONTINUATION frames for a block over 16 KiB (the default frame
        size); with end_headers=False the block is left unfinished."""
        block = hpack(headers)
        chunks = [block[i:i + 16384] for i in range(0, len(block), 16384)] or [b""]
        es = END_STREAM if end_stream else 0
        for k, chunk in enumerate(chunks):
            last = END_HEADERS if end_headers and k == len(chunks) - 1 else 0
            self.send(frame(HEADERS if k == 0 else CONTINUATION, (es if k == 0 else 0) | last,
                            stream, chunk))

    def data(self, stream, payload, end_stream=True):
        self.send(frame(DATA, END_STREAM if end_stream else 0, stream, payload))

    def _recv_exact(self, n, deadline):
        while len(self.buf) < n:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                self.closed = True
                raise ConnectionError("peer closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self, deadline):
        head = self._recv_exact(9, deadline)
        length = struct.unpack(">I", b"\x00" + head[:3])[0]
        ftype, flags = head[3], head[4]
        stream = struct.unpack(">I", head[5:9])[0] & 0x7FFFFFFF
        payload = self._recv_exact(length, deadline)
        if ftype == SETTINGS and not flags & ACK:
            self.send(frame(SETTINGS, ACK, 0))
        elif ftype == PING and not flags & ACK:
            self.send(frame(PING, ACK, 0, payload))
        return ftype, flags, stream, payload

    def wait_end(self, stream, timeout):
        """Frames of @stream until its end: ('trailers', {grpc-status...}), ('rst', code) or
        ('goaway', code); ('timeout', None) when nothing ends it in time."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                ftype, flags, sid, payload = self.read_frame(deadline)
                if ftype == GOAWAY:
                    return "goaway", struct.unpack(">I", payload[4:8])[0]
                if sid != stream:
                    continue
                if ftype == RST_STREAM:
                    return "rst", struct.unpack(">I", payload[:4])[0]
                if ftype == HEADERS and flags & END_STREAM:
                    return "trailers", grpc_fields(payload, flags)
        except socket.timeout:
            return "timeout", None
        except ConnectionError:
            return "closed", None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def grpc_fields(payload, flags):
    """grpc-status and grpc-message from a trailer block. gRPC core sends them as literals
    (maybe Huffman-coded: then only the status is recovered, from its digits)."""
    PADDED, PRIORITY = 0x8, 0x20
    i = 0
    if flags & PADDED:
        i += 1
    if flags & PRIORITY:
        i += 5
    out = {}
    data = payload
    while i < len(data):
        b = data[i]
        if b & 0x80:  # indexed field: not a grpc-* one in a first trailer block
            _, i = _hpack_int(data, i, 7)
            continue
        if b & 0x20:  # dynamic table size update
            _, i = _hpack_int(data, i, 5)
            continue
        prefix = 6 if b & 0x40 else 4
        idx, i = _hpack_int(data, i, prefix)
        name = None
        if idx == 0:
            huff = data[i] & 0x80
            n, i = _hpack_int(data, i, 7)
            name = None if huff else data[i:i + n].decode("latin-1")
            i += n
        huff = data[i] & 0x80
        n, i = _hpack_int(data, i, 7)
        value = None if huff else data[i:i + n].decode("latin-1")
        i += n
        if name:
            out[name] = value
    return out
