"""The playground's web server (`cnndsl serve`): a Starlette app serving the page and its JSON API.

Routes (bodies and answers in docs/serve.md):

    GET  /                           the page (static/index.html)
    GET  /static/{path}              the page's files
    GET  /api/architectures          the shipped architectures: name, title
    GET  /api/architecture/{name}    a shipped architecture's text
    GET  /api/file                   the served file (or shipped network, or the starter program)
    PUT  /api/file                   save the served file (403 when there is none)
    POST /api/analyze                figures, table, diagram and source of a program, or its errors
    POST /api/render                 the diagram as an SVG or PNG download

Safety: a body over `MAX_FILE_BYTES` is refused with 413 (by its Content-Length and by the bytes
read); a body that is not the expected JSON gets 400; analysis runs in worker threads, off the event
loop, so a slow request does not hold up others. Nothing sent is evaluated as Python. On disk, the
server writes only the served file, and reads only it, the shipped architectures, the page's files
and what a program's `use` lines name, under the CLI's rules (beside or below the program's file).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request as HttpRequest
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from cnndsl.errors import CnnError
from cnndsl.server.analysis import BadRequest, Request, analyze, error_json, image
from cnndsl.source import shipped
from cnndsl.syntax import MAX_FILE_BYTES

STATIC = Path(__file__).resolve().parent / "static"
STARTER = "tiny"  # the program the page opens with when no file is served
PLAYGROUND = "playground.cnn"  # the name a text is parsed under when no file is served: `use` starts in the cwd


class TooLarge(Exception):
    """A request body over `MAX_FILE_BYTES` (413)."""


@dataclass(frozen=True)
class Served:
    """What the server was started on: a `.cnn` file (saved to), a shipped architecture (read
    only), or nothing (the starter program, read only; nothing is written)."""

    path: Path | None  # the file read (and, if `writable`, written)
    writable: bool

    @classmethod
    def of(cls, target: str | Path | None) -> Served:
        """`target` as `cnndsl serve` takes it: a file, a shipped name, or None.

        Raises:
            CnnError: the file does not exist or cannot be read as a program's text.
        """
        from cnndsl import resolve
        from cnndsl.elaborate import read_source

        if target is None:
            return cls(None, False)
        path = resolve(target)
        read_source(path)  # a missing, binary or oversized file is an error now, not at the first request
        return cls(path, path not in shipped().values())

    @property
    def filename(self) -> str:
        """The name a program from the page is parsed under (error positions, `use` paths)."""
        return PLAYGROUND if self.path is None else str(self.path)

    def read(self) -> dict:
        """The answer of `GET /api/file`."""
        from cnndsl.elaborate import read_source

        path = self.path or shipped()[STARTER]
        return {"name": self.path.name if self.path else None, "text": read_source(path),
                "writable": self.writable, "mtime": path.stat().st_mtime if self.writable else None}

    def write(self, text: str) -> dict:
        """Save `text` to the served file (only it); the answer of `PUT /api/file`."""
        try:
            self.path.write_bytes(text.encode("utf-8"))
        except OSError as exc:
            raise CnnError(f"cannot write '{self.path}': {exc.strerror}") from None
        return {"mtime": self.path.stat().st_mtime}


class Playground:
    """The endpoints, over one `Served` target."""

    def __init__(self, served: Served):
        self.served = served

    @cached_property
    def architectures(self) -> list[dict]:
        """The shipped architectures' names and titles (`network NAME "TITLE"`), parsed once."""
        from cnndsl.elaborate import read_source
        from cnndsl.syntax import NetworkDecl, parse_program

        out = []
        for name, path in shipped().items():
            items = parse_program(read_source(path), str(path)).items
            title = next((i.title for i in items if isinstance(i, NetworkDecl)), None)
            out.append({"name": name, "title": title})
        return out

    def filename(self, request: Request) -> str:
        """The name `request`'s text is parsed under: the shipped file it was opened from, else the served one's."""
        if request.architecture is None:
            return self.served.filename
        path = shipped().get(request.architecture)
        if path is None:
            raise BadRequest(f"'architecture': no shipped architecture '{request.architecture}'")
        return str(path)

    # ------------------------------------------------------------ endpoints
    async def index(self, _: HttpRequest) -> Response:
        return FileResponse(STATIC / "index.html")

    async def list_architectures(self, _: HttpRequest) -> Response:
        return JSONResponse({"architectures": await run_in_threadpool(lambda: self.architectures)})

    async def architecture(self, request: HttpRequest) -> Response:
        from cnndsl.elaborate import read_source

        name = request.path_params["name"]
        path = shipped().get(name)
        if path is None:
            return JSONResponse({"error": f"no shipped architecture '{name}'"}, 404)
        return JSONResponse({"name": name, "text": await run_in_threadpool(read_source, path)})

    async def get_file(self, _: HttpRequest) -> Response:
        try:
            return JSONResponse(await run_in_threadpool(self.served.read))
        except CnnError as err:  # the file was removed or spoilt since
            return JSONResponse({"error": err.render()}, 409)

    async def put_file(self, request: HttpRequest) -> Response:
        if not self.served.writable:
            return JSONResponse({"error": "no file is served: start `cnndsl serve FILE` to save"}, 403)
        body = await read_json(request)
        if not isinstance(body, dict) or set(body) != {"text"} or not isinstance(body["text"], str):
            raise BadRequest('the body must be {"text": "..."}')
        try:
            return JSONResponse(await run_in_threadpool(self.served.write, body["text"]))
        except CnnError as err:
            return JSONResponse({"error": err.render()}, 409)

    async def analyze(self, request: HttpRequest) -> Response:
        req = Request.from_json(await read_json(request))
        return JSONResponse(await run_in_threadpool(analyze, req, self.filename(req)))

    async def render(self, request: HttpRequest) -> Response:
        body = await read_json(request)
        fmt = body.pop("format", "svg") if isinstance(body, dict) else None
        req = Request.from_json(body)
        filename = self.filename(req)
        try:
            data = await run_in_threadpool(image, req, filename, fmt)
        except CnnError as err:
            return JSONResponse({"ok": False, "errors": [error_json(err, filename)]}, 422)
        return Response(data, media_type="image/svg+xml" if fmt == "svg" else "image/png")


async def read_json(request: HttpRequest) -> Any:
    """The request's JSON body, at most `MAX_FILE_BYTES` long (`TooLarge` otherwise, by its
    Content-Length before anything is read, and by the bytes as they arrive); `BadRequest` for
    anything that is not JSON whose strings are Unicode text (no NaN, no lone surrogates)."""
    length = request.headers.get("content-length", "0")
    if not length.isdigit():
        raise BadRequest("bad Content-Length")
    if int(length) > MAX_FILE_BYTES:
        raise TooLarge()
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_FILE_BYTES:
            raise TooLarge()
    try:
        body = json.loads(data, parse_constant=_no_constant)
        json.dumps(body, ensure_ascii=False).encode("utf-8")  # every string can be answered in UTF-8
    except (ValueError, RecursionError):
        raise BadRequest("the body is not JSON text") from None
    return body


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


async def _bad_request(_: HttpRequest, exc: Exception) -> Response:
    return JSONResponse({"error": str(exc)}, 400)


async def _too_large(_: HttpRequest, exc: Exception) -> Response:
    return JSONResponse({"error": f"the body is over the limit of {MAX_FILE_BYTES:,} bytes"}, 413)


async def _internal(_: HttpRequest, exc: Exception) -> Response:  # a bug in cnndsl, not the user's input
    return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"}, 500)


def warm_up() -> None:
    """Analyze the starter program once, so that the first requests do not wait for the grammar's
    tables, the lexer's patterns and the tables the diagram's styles are read from."""
    from cnndsl.elaborate import read_source

    path = shipped()[STARTER]
    analyze(Request(read_source(path), diagram="none"), str(path))


def create_app(target: str | Path | None = None) -> Starlette:
    """The playground app serving `target`: a `.cnn` file (the page saves to it), a shipped
    architecture by name (read only), or None (the starter program; nothing is written).

    Raises:
        CnnError: `target` names no readable file or shipped architecture.
    """
    served = Served.of(target)
    warm_up()
    p = Playground(served)
    routes = [
        Route("/", p.index),
        Route("/api/architectures", p.list_architectures),
        Route("/api/architecture/{name}", p.architecture),
        Route("/api/file", p.get_file, methods=["GET"]),
        Route("/api/file", p.put_file, methods=["PUT"]),
        Route("/api/analyze", p.analyze, methods=["POST"]),
        Route("/api/render", p.render, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    return Starlette(routes=routes, exception_handlers={BadRequest: _bad_request, TooLarge: _too_large,
                                                        Exception: _internal})
