"""A PostgreSQL TCP proxy for chaos tests: it can lose a COMMIT's reply and cut the network.

    proxy = PgProxy(upstream_port)          # listens on 127.0.0.1:proxy.port, relays to upstream
    proxy.drop_next_commit_reply()          # arm: the next COMMIT reaches the server, its reply
                                            # does not reach the client, both sockets close
    proxy.commit_replies_dropped            # how many times that happened
    proxy.pause(); proxy.resume()           # a network partition: no byte relayed, nothing closed
    proxy.open_transactions()               # last SQL of each connection inside a transaction
    proxy.stop()

Why: the daemon's checkpoint is a Postgres COMMIT. When the COMMIT's reply is lost, the server
has committed but the client cannot know; it must find out (the batch row exists) instead of
writing the batch again. This proxy makes that happen on demand, exactly once per arming.

How: the wire protocol is parsed, not grepped (https://www.postgresql.org/docs/15/protocol-flow.html).
Client to server: first untyped packets (int32 length, int32 code): SSLRequest and GSSENCRequest
are relayed and the server's one-byte answer relayed back (after 'S' or 'G' the stream is
encrypted and simply relayed from then on); CancelRequest is relayed; a StartupMessage starts
the typed phase (one type byte, int32 length including itself, body). A simple Query ('Q') whose
SQL, stripped of blanks and semicolons, starts with COMMIT (case-insensitive) or is END
consumes an arming: from then on the server's replies on that connection are read and
discarded up to ReadyForQuery ('Z', so the server has finished the COMMIT), then both sockets
close. Each ReadyForQuery's transaction status ('I' idle, 'T' in a transaction, 'E' failed one)
is remembered per connection with the last SQL the client sent (simple Query or Parse), so a test
can act while a client holds a transaction open (e.g. SIGSTOP it there: a zombie holding row
locks). libpq sends COMMIT as a simple query (PQexec/PQsendQuery); the extended protocol
(Parse/Bind/Execute) is relayed untouched.

Thread rules: one accepting thread and two relay threads per connection (one per direction);
the public methods may be called from any thread. Python 3 standard library only.
"""
import socket
import struct
import threading

SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST = 80877103, 80877104, 80877102


def _recv_exact(sock, n):
    """n bytes from sock, or None when the peer closed first."""
    chunks, left = [], n
    while left:
        try:
            chunk = sock.recv(left)
        except OSError:
            return None
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _is_commit(sql):
    text = sql.strip().rstrip(";").strip().upper()
    return text.startswith("COMMIT") or text == "END"


class _Connection:
    """One client connection and its server connection."""

    def __init__(self, proxy, client, server):
        self.proxy, self.client, self.server = proxy, client, server
        self.dropping = False  # set by the client thread before it forwards an armed COMMIT
        self.status = b"I"     # transaction status of the last ReadyForQuery relayed
        self.last_sql = ""     # the last SQL text the client sent
        self.closed = threading.Event()

    def close(self):
        if self.closed.is_set():
            return
        self.closed.set()
        for sock in (self.client, self.server):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.proxy._forget(self)

    def _send(self, sock, data):
        """Relays data once the proxy is not paused; False when the connection is gone."""
        while not self.proxy._flowing.wait(0.1):
            if self.closed.is_set():
                return False
        try:
            sock.sendall(data)
            return True
        except OSError:
            return False

    # -- client to server -------------------------------------------------------------------
    def client_to_server(self):
        try:
            if self._startup():
                self._typed_client_messages()
        finally:
            self.close()

    def _startup(self):
        """Relays the untyped start-up packets; True when the typed phase follows."""
        while True:
            header = _recv_exact(self.client, 4)
            if header is None:
                return False
            (length,) = struct.unpack("!i", header)
            if length < 8 or length > 10_000:
                return False
            body = _recv_exact(self.client, length - 4)
            if body is None or not self._send(self.server, header + body):
                return False
            (code,) = struct.unpack("!i", body[:4])
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                answer = _recv_exact(self.server, 1)
                if answer is None or not self._send(self.client, answer):
                    return False
                if answer in (b"S", b"G"):  # encrypted from here: relay without parsing
                    threading.Thread(target=self._raw, args=(self.server, self.client), daemon=True).start()
                    self._raw(self.client, self.server)
                    return False
                continue  # 'N': the client sends its StartupMessage next
            if code == CANCEL_REQUEST:
                self._raw(self.client, self.server)
                return False
            threading.Thread(target=self.server_to_client, daemon=True).start()
            return True

    def _typed_client_messages(self):
        while True:
            header = _recv_exact(self.client, 5)
            if header is None:
                return
            kind, length = header[:1], struct.unpack("!i", header[1:])[0]
            if length < 4:
                return
            body = _recv_exact(self.client, length - 4)
            if body is None:
                return
            if kind == b"Q":
                self.last_sql = body.rstrip(b"\0").decode("utf-8", "replace")
                if _is_commit(self.last_sql) and self.proxy._take_arming():
                    self.dropping = True
            elif kind == b"P":  # Parse: statement name, NUL, query, NUL, parameter types
                self.last_sql = body.split(b"\0", 2)[1].decode("utf-8", "replace") if body.count(b"\0") >= 2 else ""
            if not self._send(self.server, header + body):
                return

    # -- server to client -------------------------------------------------------------------
    def server_to_client(self):
        try:
            while True:
                header = _recv_exact(self.server, 5)
                if header is None:
                    return
                kind, length = header[:1], struct.unpack("!i", header[1:])[0]
                body = _recv_exact(self.server, length - 4) if length >= 4 else None
                if body is None:
                    return
                if self.dropping:
                    if kind == b"Z":  # the server has finished the COMMIT: cut both sides
                        self.proxy._count_dropped()
                        return
                    continue
                if kind == b"Z" and body:
                    self.status = body[:1]
                if not self._send(self.client, header + body):
                    return
        finally:
            self.close()

    def _raw(self, source, target):
        try:
            while True:
                try:
                    data = source.recv(65536)
                except OSError:
                    return
                if not data or not self._send(target, data):
                    return
        finally:
            self.close()


class PgProxy:
    """Listens on a free loopback port (.port) and relays each connection to upstream."""

    def __init__(self, upstream_port, upstream_host="127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._armed = 0
        self._dropped = 0
        self._connections = set()
        self._flowing = threading.Event()
        self._flowing.set()
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def commit_replies_dropped(self):
        with self._lock:
            return self._dropped

    @property
    def connections(self):
        """Connections open through the proxy right now."""
        with self._lock:
            return len(self._connections)

    def open_transactions(self):
        """[last SQL] of the connections whose last ReadyForQuery said "in a transaction"."""
        with self._lock:
            connections = list(self._connections)
        return [c.last_sql for c in connections if c.status in (b"T", b"E") and not c.closed.is_set()]

    def drop_next_commit_reply(self):
        """Arms one drop (armings add up): see the module comment."""
        with self._lock:
            self._armed += 1

    def pause(self):
        """Stops relaying bytes in both directions; connections stay open (a partition)."""
        self._flowing.clear()

    def resume(self):
        self._flowing.set()

    def stop(self):
        """Closes the listener and every connection."""
        self._stopped = True
        self._flowing.set()
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            connections = list(self._connections)
        for c in connections:
            c.close()

    def _take_arming(self):
        with self._lock:
            if self._armed == 0:
                return False
            self._armed -= 1
            return True

    def _count_dropped(self):
        with self._lock:
            self._dropped += 1

    def _forget(self, connection):
        with self._lock:
            self._connections.discard(connection)

    def _accept(self):
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
                server.settimeout(None)
            except OSError:  # the server is down: the client sees its connection closed
                client.close()
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = _Connection(self, client, server)
            with self._lock:
                self._connections.add(connection)
            threading.Thread(target=connection.client_to_server, daemon=True).start()
