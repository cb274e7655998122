"""`cnndsl serve [FILE|NAME] [--port 8000] [--host 127.0.0.1] [--open]`: the playground, a page that
re-checks the program as it is typed and shows its figures, diagram and PyTorch source (needs the
`serve` extra: Starlette and uvicorn)."""

from __future__ import annotations

import socket

from cnndsl.errors import CnnError


def add_parser(sub):
    p = sub.add_parser("serve", help="a live playground in the browser: edit a program, see its figures, "
                                     "diagram and source at once",
                       description="Serve the playground on this machine. With FILE the page saves to it "
                                   "(Ctrl+S) and reloads it when another editor changes it; with a shipped NAME "
                                   "or nothing, nothing is written. Needs pip install 'cnndsl[serve]'.")
    p.add_argument("file", nargs="?", metavar="FILE|NAME", help="a .cnn file to edit, or a shipped architecture")
    p.add_argument("--port", type=int, default=8000, help="the port to listen on (default 8000; 0: any free one)")
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--open", action="store_true", help="open the page in a web browser")
    return p


def run(args) -> int:
    try:
        import uvicorn

        from cnndsl.server.app import create_app
    except ImportError as exc:
        raise CnnError(f"cnndsl serve needs Starlette and uvicorn ({exc.name} is missing): "
                       "pip install 'cnndsl[serve]'") from None
    app = create_app(args.file)
    sock = listen(args.host, args.port)
    host, port = sock.getsockname()[:2]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    print(f"cnndsl serve: {url}  (Ctrl+C stops)", flush=True)
    if args.open:  # the socket already listens: the browser's request waits until the server takes it
        import webbrowser

        webbrowser.open(url)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    return 0


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on `host`:`port` (IPv4 or IPv6, as the host resolves), or a CnnError naming
    the option. Made with the TCP protocol number, so that asyncio sets TCP_NODELAY on each
    connection (with protocol 0 it does not, and a keep-alive answer then waits ~40 ms for an ACK)."""
    if not 0 <= port <= 65535:
        raise CnnError(f"--port must be 0 to 65535, got {port}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        return sock
    except OSError as exc:
        option = "--host" if isinstance(exc, socket.gaierror) else "--port"
        raise CnnError(f"cannot listen on {host}:{port}: {exc.strerror}", hint=f"choose another {option}") from None
