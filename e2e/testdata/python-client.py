"""The README flow with the Python socket.io client (python-socketio, Debian's python3-socketio).

    python3 python-client.py URL USER_ID HASH TRANSPORT HANDLER

TRANSPORT is "websocket", "polling" or "polling,websocket" (polling, then the upgrade). HANDLER is the message handler's shape:
"one-arg" (def on_message(message)) or "varargs" (def on_message(message, *rest)): with
connection state recovery on, each pushed event carries the offset as a last argument, and
python-socketio calls a handler with every argument it gets.

Prints one JSON line per thing that happens; exits when stdin closes.
"""
import json
import sys
import threading
from importlib import metadata

import socketio

url, user_id, hash_, transport, handler = sys.argv[1:6]


_out_lock = threading.Lock()


def out(**kw):
    # python-socketio runs handlers on several threads: one whole line at a time.
    line = json.dumps(kw) + "\n"
    with _out_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


sio = socketio.Client(reconnection=False)


@sio.event
def connect():
    out(type="connect", transport=sio.transport())
    # authenticate
    sio.emit("auth", (int(user_id), hash_), callback=lambda res: out(type="auth-ack", res=res))


@sio.event
def connect_error(data):
    out(type="connect_error", data=str(data))


@sio.event
def disconnect():
    out(type="disconnect")


if handler == "one-arg":
    @sio.on("message")
    def on_message(message):
        out(type="event", event="message", args=[message])
else:
    @sio.on("message")
    def on_message(message, *rest):
        out(type="event", event="message", args=[message, *rest])

out(type="versions", socketio=metadata.version("python-socketio"), engineio=metadata.version("python-engineio"))
sio.connect(url, transports=transport.split(","), wait_timeout=10)

sys.stdin.read()  # the test closes stdin (or kills us) when done
sio.disconnect()
