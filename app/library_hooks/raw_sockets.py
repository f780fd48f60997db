"""A socket's descriptor looked at through the C socket module (`_socket`),
which eventlet and gevent do not replace: no hub and no green thread are
involved, and nothing is taken from the socket. (eventlet's green select, for
one, refuses a second waiter on a descriptor another green thread reads.)"""

import _socket

_PEEK = _socket.MSG_PEEK | _socket.MSG_DONTWAIT


def has_input(fileno: int) -> bool:
    """True if the descriptor has something to read (bytes, or the end of the
    connection, or an error on it); False if a read would wait."""
    sock = _socket.socket(fileno=fileno)
    try:
        sock.recv(1, _PEEK)  # b"" (the end) or bytes: either way there is input
        return True
    except BlockingIOError:
        return False  # nothing to read
    except OSError:
        return True
    finally:
        sock.detach()  # the descriptor stays its owner's
