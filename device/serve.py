"""`edgedigits serve`: the live pipeline of `run` behind a small aiohttp server — a page, an MJPEG stream, REST.

aiohttp because it is one maintained package with everything this needs built in: streaming responses for
MJPEG, a multipart reader and a body-size limit for uploads, and its own server (no separate ASGI server).
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from aiohttp import web

from edgedigits import EdgeDigitsError
from edgedigits.device.live import FrameResult, LoadedModel, RunSummary, draw, load_model, process, read_digits
from edgedigits.device.sources import SourceOptions, open_source

TOKEN_ENV = "EDGEDIGITS_TOKEN"
PAGE = Path(__file__).with_name("serve.html")
BOUNDARY = "edgedigitsframe"


@dataclass
class ServeOptions:
    source: str
    model: Path
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    min_score: float = 0.9
    steady: bool = False
    threads: int = 1
    edgetpu: bool = False
    max_upload: int = 4 << 20  # bytes of an image posted to /api/predict
    jpeg_quality: int = 80
    capture: SourceOptions = field(default_factory=lambda: SourceOptions(realtime=True))


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


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
        self._loop: asyncio.AbstractEventLoop | None = None
        self.fresh: asyncio.Condition | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self.fresh = loop, asyncio.Condition()
        threading.Thread(target=self._run, name="live pipeline", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

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
                if self.viewers:  # with nobody watching, no picture is drawn or encoded
                    self._picture(result)
                self._notify()
                if self._stop.is_set():
                    break
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
                "digits": self.latest.digits if self.latest else []}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _middlewares(token: str | None):
    @web.middleware
    async def errors_as_json(request: web.Request, handler):
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _error(exc.status, exc.reason.lower() if exc.status != 413 else
                          f"upload larger than {request.app['options'].max_upload} bytes")

    @web.middleware
    async def check_token(request: web.Request, handler):
        if token and request.path != "/healthz":
            given = request.query.get("token") or request.headers.get("Authorization", "").removeprefix("Bearer ")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return _error(401, "missing or wrong token")
        return await handler(request)
    return [errors_as_json, check_token]


async def page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE.read_text(), content_type="text/html")


async def stream(request: web.Request) -> web.StreamResponse:
    """MJPEG: each viewer gets the newest frame when it is ready for one, so a slow viewer skips frames."""
    live: Live = request.app["live"]
    response = web.StreamResponse(headers={"Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                                           "Cache-Control": "no-cache"})
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
    return web.json_response(result.line() if result else {"frame": None, "digits": [], "ms": {}})


async def _image_bytes(request: web.Request) -> bytes:
    if request.content_type.startswith("multipart/"):
        async for part in await request.multipart():
            if part.filename or part.name in ("image", "file"):
                return await part.read(decode=False)
        raise web.HTTPBadRequest(reason="no image in the multipart body")
    return await request.read()


async def predict(request: web.Request) -> web.Response:
    data = await _image_bytes(request)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        return _error(400, "the body is not a PNG or JPEG image")
    model: LoadedModel = request.app["predict_model"]
    loop = asyncio.get_running_loop()
    # One worker with its own interpreter: the live loop's interpreter is busy in its own thread.
    options = request.app["options"]
    digits, ms = await loop.run_in_executor(request.app["worker"], read_digits, image, model, options.min_score,
                                            options.steady)
    return web.json_response({"digits": digits, "ms": {k: round(v, 2) for k, v in ms.items()}})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def make_app(options: ServeOptions) -> web.Application:
    """The application, with the models loaded and the live loop ready to start with the server."""
    from concurrent.futures import ThreadPoolExecutor
    token = options.token or os.environ.get(TOKEN_ENV) or None
    if not is_loopback(options.host) and not token:
        raise EdgeDigitsError(f"--host {options.host} is reachable from other machines: give --token (or set "
                              f"{TOKEN_ENV})")
    app = web.Application(client_max_size=options.max_upload, middlewares=_middlewares(token))
    app["options"] = options
    app["live"] = Live(options, load_model(options.model, options.threads, options.edgetpu))
    app["predict_model"] = load_model(options.model, options.threads, options.edgetpu)
    app["worker"] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")

    async def start_live(app: web.Application) -> None:
        app["live"].start(asyncio.get_running_loop())

    async def stop_live(app: web.Application) -> None:
        app["live"].stop()
        app["worker"].shutdown(wait=False)
    app.on_startup.append(start_live)
    app.on_shutdown.append(stop_live)
    app.router.add_get("/", page)
    app.router.add_get("/stream.mjpg", stream)
    app.router.add_get("/api/status", status)
    app.router.add_get("/api/latest", latest)
    app.router.add_post("/api/predict", predict)
    app.router.add_get("/healthz", healthz)
    return app


def serve(options: ServeOptions) -> None:
    app = make_app(options)
    print(f"edgedigits: serving {options.source} on http://{options.host}:{options.port}/", flush=True)
    web.run_app(app, host=options.host, port=options.port, print=None, shutdown_timeout=2.0)
