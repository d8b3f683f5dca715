"""`edgedigits serve`: the live pipeline of `run` behind a small aiohttp server — a page, an MJPEG stream, REST.

aiohttp because it is one maintained package with everything this needs built in: streaming responses for
MJPEG, a multipart reader and a body-size limit for uploads, and its own server (no separate ASGI server).
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np
from aiohttp import MultipartReader, web

from edgedigits import EdgeDigitsError, first_line
from edgedigits.device.guard import ConnectionGuard, raise_open_file_limit
from edgedigits.device.metrics import Metrics
from edgedigits.device.numbers import group_numbers
from edgedigits.device.live import (FrameResult, LoadedModel, Reading, RunSummary, draw, fastest_artifact, load_model,
                                    process, read_digits)
from edgedigits.device.sources import SourceOptions, open_source
from edgedigits.images import decode_image
from edgedigits.targets import AUTO

TOKEN_ENV = "EDGEDIGITS_TOKEN"
PAGE = Path(__file__).with_name("serve.html")
BOUNDARY = "edgedigitsframe"
MAX_PARTS = 8  # parts of a multipart upload looked at for the image
HEADER_TIMEOUT = 5.0  # seconds a client has to send a request's headers
KEEPALIVE_TIMEOUT = 15.0  # seconds an idle keep-alive connection stays open
MAX_CONNECTIONS = 512


@dataclass
class ServeOptions:
    source: str
    model: Path | None  # None: the default model (see live.default_model)
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    min_score: float = 0.9
    steady: bool = False
    threads: int = 1
    accelerator: str | None = AUTO  # AUTO: a release's own (the Edge TPU for coral); None: the CPU
    max_upload: int = 4 << 20  # bytes of an image posted to /api/predict
    workers: int = min(4, os.cpu_count() or 1)  # predictions run at once, each with its own interpreter
    max_pending: int = 16  # predictions queued or running; more are answered 503
    jpeg_quality: int = 80
    capture: SourceOptions = field(default_factory=lambda: SourceOptions(realtime=True))


def is_loopback(host: str | None) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _host_name(header: str) -> str | None:
    """The host name of a Host header (`name:port`, `[v6]:port`), or None when it is not one."""
    try:
        return urlsplit(f"//{header}").hostname
    except ValueError:
        return None


class Live:
    """One capture and inference loop in a thread, whatever the number of viewers: each frame is classified,
    drawn and JPEG-encoded once; viewers and the API read the newest."""

    def __init__(self, options: ServeOptions, model: LoadedModel):
        self.options, self.model = options, model
        self.summary = RunSummary()
        self.latest: FrameResult | None = None
        self.jpeg = b""
        self.sequence = 0  # pictures encoded so far
        self._pictured = -1  # index of the frame the latest picture shows
        self.status = "starting"
        self.failure = ""
        self.viewers = 0
        self._fps_times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live pipeline", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.fresh: asyncio.Condition | None = None
        self.metrics = Metrics(model, lambda: self.fps)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self.fresh = loop, asyncio.Condition()
        self._thread.start()

    def stop(self) -> None:
        """End the loop after its current frame: a thread still inside OpenCV or LiteRT as Python exits aborts it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        try:
            source = open_source(self.options.source, self.options.capture)
        except EdgeDigitsError as exc:
            self._end("failed", str(exc))
            return
        self.status = "running"
        try:
            for result in process(source, self.model, self.options.min_score, self.summary,
                                  steady=self.options.steady):
                now = time.perf_counter()
                self._fps_times = [t for t in self._fps_times if now - t < 2.0] + [now]
                self.latest = result
                self.metrics.frame(result, self.summary.dropped)
                if self.viewers:  # with nobody watching, no picture is drawn or encoded
                    self._picture(result)
                self._notify()
                if self._stop.is_set():
                    break
        except Exception as exc:  # a bad frame or a failing runtime ends the loop, never the server
            self.summary.failure = first_line(exc, 300)
        finally:
            source.close()
        if self.latest is not None and self._pictured != self.latest.index:
            self._picture(self.latest)  # the last frame stays viewable after the source ends
        self._end("failed" if self.summary.failure else "ended", self.summary.failure)

    def _picture(self, result: FrameResult) -> None:
        ok, jpeg = cv2.imencode(".jpg", draw(result.frame, result.digits, self.fps),
                                [cv2.IMWRITE_JPEG_QUALITY, self.options.jpeg_quality])
        self.jpeg, self.sequence, self._pictured = jpeg.tobytes(), self.sequence + 1, result.index

    def _end(self, status: str, failure: str) -> None:
        self.status, self.failure = status, failure
        self._notify()

    def _notify(self) -> None:
        async def wake() -> None:
            async with self.fresh:
                self.fresh.notify_all()
        if self._loop is not None and not self._loop.is_closed():
            asyncio.run_coroutine_threadsafe(wake(), self._loop)

    @property
    def fps(self) -> float:
        times = self._fps_times
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0

    def state(self) -> dict:
        p50 = {stage: round(float(np.median(values[-100:])), 2) for stage, values in self.summary.ms.items() if values}
        return {"status": self.status, "failure": self.failure, "source": self.options.source,
                "frames": self.summary.frames, "dropped": self.summary.dropped, "fps": round(self.fps, 1),
                "p50_ms": p50, "viewers": self.viewers, "model": self.model.path.name,
                "precision": self.model.precision, "runtime": self.model.classifier.runtime,
                "digits": self.latest.digits if self.latest else [],
                "numbers": group_numbers(self.latest.digits) if self.latest else []}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def count_predictions(request: web.Request, handler):
    """Outermost, so that every answer to /api/predict is counted by its status, refusals included."""
    response = await handler(request)
    if request.path == "/api/predict":
        request.app["live"].metrics.requests.labels(str(response.status)).inc()
    return response


def _middlewares(token: str | None):
    @web.middleware
    async def errors_as_json(request: web.Request, handler):
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            if exc.status == 413:
                return _error(413, f"upload larger than {request.app['options'].max_upload} bytes")
            return _error(exc.status, exc.reason.lower() if exc.reason == HTTPStatus(exc.status).phrase else exc.reason)
        except EdgeDigitsError as exc:
            return _error(400, str(exc))
        except Exception as exc:  # a bug or a library's surprise: one line in the log, never a traceback
            print(f"edgedigits: error: {request.method} {request.path}: {type(exc).__name__}: {first_line(exc)}",
                  file=sys.stderr, flush=True)
            return _error(500, "internal error")

    @web.middleware
    async def loopback_names_only(request: web.Request, handler):
        # Without a token the server listens on loopback only; a page on another site can still reach it
        # through a name that resolves to 127.0.0.1 (DNS rebinding), which the Host header gives away.
        if not token and not is_loopback(_host_name(request.headers.get("Host", ""))):
            return _error(403, "this server answers to loopback host names only (serve --token for others)")
        return await handler(request)

    @web.middleware
    async def check_token(request: web.Request, handler):
        if token and request.path != "/healthz":
            given = request.query.get("token") or request.headers.get("Authorization", "").removeprefix("Bearer ")
            # aiohttp keeps undecodable header bytes as surrogates: encode them back rather than fail.
            if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode()):
                return _error(401, "missing or wrong token")
        return await handler(request)
    return [count_predictions, errors_as_json, loopback_names_only, check_token]


async def page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE.read_text(), content_type="text/html")


async def stream(request: web.Request) -> web.StreamResponse:
    """MJPEG: each viewer gets the newest frame when it is ready for one, so a slow viewer skips frames."""
    live: Live = request.app["live"]
    headers = {"Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}", "Cache-Control": "no-cache"}
    if request.method == "HEAD":
        return web.Response(headers=headers)
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    live.viewers += 1
    sent = 0
    try:
        while True:
            async with live.fresh:
                await live.fresh.wait_for(lambda: live.sequence > sent or live.status in ("ended", "failed"))
            if live.sequence == sent:  # the source is over and its last picture was sent
                break
            sent, jpeg = live.sequence, live.jpeg
            await response.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                                 .encode() + jpeg + b"\r\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        live.viewers -= 1
    return response


async def status(request: web.Request) -> web.Response:
    return web.json_response(request.app["live"].state())


async def latest(request: web.Request) -> web.Response:
    result = request.app["live"].latest
    return web.json_response(result.line() if result else {"frame": None, "digits": [], "numbers": [], "ms": {}})


async def _image_bytes(request: web.Request) -> bytes:
    """The uploaded image: the raw body, or the first file part of a multipart body. A multipart body must say
    its length up front: its parts are streamed, past aiohttp's limit on bodies it reads whole."""
    if not request.content_type.startswith("multipart/"):
        return await request.read()
    limit = request.app["options"].max_upload
    if request.content_length is None:
        raise web.HTTPLengthRequired(reason="a multipart upload needs a content-length")
    if request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    try:
        reader = await request.multipart()
        for _ in range(MAX_PARTS):
            part = await reader.next()
            if part is None:
                break
            if isinstance(part, MultipartReader):
                raise web.HTTPBadRequest(reason="nested multipart bodies are not accepted")
            if part.filename or part.name in ("image", "file"):
                return await part.read(decode=False)
            await part.release()
    except (ValueError, RuntimeError, AssertionError, LookupError) as exc:
        raise web.HTTPBadRequest(reason=f"malformed multipart body ({type(exc).__name__})") from None
    raise web.HTTPBadRequest(reason=f"no image in the first {MAX_PARTS} parts of the multipart body")


_worker = threading.local()  # a prediction worker's own model: in its process, or its thread on a Coral


def _load_worker_model(model: Path | None, threads: int, accelerator: str | None) -> None:
    cv2.setNumThreads(threads)  # predictions run side by side in workers; OpenCV's pool only adds hand-offs
    _worker.model = load_model(model, threads, accelerator)


def _predict_image(data: bytes, min_score: float, steady: bool) -> Reading:
    """Decode and read one upload in a prediction worker."""
    try:
        image = decode_image(data)
    except EdgeDigitsError as exc:
        raise EdgeDigitsError(f"the body is not a PNG or JPEG image ({exc})") from None
    return read_digits(image, _worker.model, min_score, steady)


def _workers(options: ServeOptions, live: LoadedModel) -> Executor:
    """Worker processes, each with its own model: finding digits holds the GIL for much of its time (a grid photo
    on 2 cores: 44 requests/s in 2 threads, 66 in 2 processes). A Coral opens to one process: on it, threads."""
    model = (options.model, options.threads, options.accelerator)
    if live.classifier.runtime.endswith("+edgetpu"):
        return ThreadPoolExecutor(options.workers, "predict", initializer=_load_worker_model, initargs=model)
    return ProcessPoolExecutor(options.workers, multiprocessing.get_context("spawn"), _load_worker_model, model)


async def predict(request: web.Request) -> web.Response:
    app, options = request.app, request.app["options"]
    if app["pending"] >= options.max_pending:
        return _error(503, f"busy: {app['pending']} predictions pending, try again")
    app["pending"] += 1
    workers = app["workers"]
    try:
        data = await _image_bytes(request)
        reading = await asyncio.get_running_loop().run_in_executor(
            workers, _predict_image, data, options.min_score, options.steady)
    except BrokenExecutor:  # a worker was killed (out of memory, say): the next requests get fresh ones
        if app["workers"] is workers:  # (once, whatever the number of requests the broken pool held)
            workers.shutdown(wait=False)
            app["workers"] = _workers(options, app["live"].model)
        return _error(503, "the prediction worker stopped; workers restarted, try again")
    finally:
        app["pending"] -= 1
    return web.json_response({"digits": reading.digits, "numbers": group_numbers(reading.digits),
                              "ms": {k: round(v, 2) for k, v in reading.ms.items()}})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def make_app(options: ServeOptions) -> web.Application:
    """The application, with the models loaded and the live loop ready to start with the server."""
    if options.workers < 1 or options.threads < 1:
        raise EdgeDigitsError("--workers and --threads must be at least 1")
    token = options.token or os.environ.get(TOKEN_ENV) or None
    if not is_loopback(options.host) and not token:
        raise EdgeDigitsError(f"--host {options.host} is reachable from other machines: give --token (or set "
                              f"{TOKEN_ENV})")
    cv2.setNumThreads(options.threads)
    # The live loop and every worker read with the same model: of an export's, the fastest here.
    options = replace(options, model=fastest_artifact(options.model, options.threads, options.accelerator))
    app = web.Application(client_max_size=options.max_upload, middlewares=_middlewares(token))
    app["options"] = options
    app["live"] = Live(options, load_model(options.model, options.threads, options.accelerator))
    app["workers"] = _workers(options, app["live"].model)
    app["pending"] = 0

    async def start_live(app: web.Application) -> None:
        app["live"].start(asyncio.get_running_loop())
        for _ in range(options.workers):  # the workers start and load their models now, not on the first requests
            app["workers"].submit(int)

    async def stop_live(app: web.Application) -> None:
        await asyncio.to_thread(app["live"].stop)
        app["workers"].shutdown(wait=False, cancel_futures=True)
    app.on_startup.append(start_live)
    app.on_shutdown.append(stop_live)
    app.router.add_get("/", page)
    app.router.add_get("/stream.mjpg", stream)
    app.router.add_get("/api/status", status)
    app.router.add_get("/api/latest", latest)
    app.router.add_post("/api/predict", predict)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", app["live"].metrics.handler())
    return app


def serve(options: ServeOptions) -> None:
    app = make_app(options)
    max_connections = max(16, min(MAX_CONNECTIONS, raise_open_file_limit() // 4))
    asyncio.run(_serve(app, options, max_connections))


async def _serve(app: web.Application, options: ServeOptions, max_connections: int) -> None:
    """aiohttp's server behind the slow-client guard, until SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    runner = web.AppRunner(app, keepalive_timeout=KEEPALIVE_TIMEOUT, shutdown_timeout=2.0)
    await runner.setup()
    try:
        guard = ConnectionGuard(runner.server, HEADER_TIMEOUT, max_connections)
        try:
            server = await loop.create_server(guard, options.host, options.port)
        except OSError as exc:
            raise EdgeDigitsError(f"cannot listen on {options.host}:{options.port} ({exc.strerror})") from None
        print(f"edgedigits: serving {options.source} on http://{options.host}:{options.port}/", flush=True)
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        server.close()
    finally:
        await runner.cleanup()
