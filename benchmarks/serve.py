"""`edgedigits serve` on loopback: predict requests per second and latency, stream fps with 1 and 4 viewers,
and a screenshot of the page (Chromium) for the README.

Usage: python benchmarks/serve.py MODEL [--requests 1000] [--concurrency 8] [--photo PHOTO ...]
                                   [--out artifacts/bench_serve]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import cv2
import numpy as np

from edgedigits.data import load_mnist
from edgedigits.footage import FootageOptions, render_frames, render_video

from common import run_main, save

SOURCE_FPS = 15


@contextlib.contextmanager
def server(source: Path, model: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "edgedigits.cli", "serve", "--source", str(source),
                                "--model", str(model), "--port", str(port)], stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            break
        time.sleep(0.1)
    try:
        yield base
    finally:
        process.terminate()
        process.wait()


async def predicts(base: str, body: bytes, requests: int, concurrency: int) -> tuple[float, list[float]]:
    """Requests per second and each request's latency (ms), `concurrency` clients on keep-alive connections."""
    latencies: list[float] = []
    queue = iter(range(requests))

    async def client(session: aiohttp.ClientSession) -> None:
        for _ in queue:
            start = time.perf_counter()
            async with session.post(base + "/api/predict", data=body) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"predict answered {response.status}")
            latencies.append((time.perf_counter() - start) * 1000)
    async with aiohttp.ClientSession() as session:
        for _ in range(20):  # warm-up
            async with session.post(base + "/api/predict", data=body) as response:
                await response.read()
        start = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        return requests / (time.perf_counter() - start), latencies


async def stream_fps(base: str, viewers: int, seconds: float) -> list[float]:
    """Frames per second each of `viewers` MJPEG viewers receives."""
    async def view(session: aiohttp.ClientSession) -> float:
        frames, start = 0, time.perf_counter()
        async with session.get(base + "/stream.mjpg") as response:
            while time.perf_counter() - start < seconds:
                line = await response.content.readline()
                if not line:
                    break
                frames += line.startswith(b"--edgedigitsframe")
        return frames / (time.perf_counter() - start)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds + 10)) as session:
        return list(await asyncio.gather(*(view(session) for _ in range(viewers))))


def screenshot(base: str, path: Path) -> None:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        page = browser.new_page(viewport={"width": 1060, "height": 560})
        page.goto(base + "/", wait_until="domcontentloaded")
        page.wait_for_function("() => /\\d/.test(document.getElementById('digits').textContent)", timeout=20000)
        time.sleep(1.5)
        page.screenshot(path=str(path))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--screenshot", type=Path, help="write a PNG of the page here")
    parser.add_argument("--photo", type=Path, nargs="*", default=[], help="real photos to post as they are")
    args = parser.parse_args()
    for path in (args.model, *args.photo):
        if not path.exists():
            parser.error(f"{path}: no such file or folder")
    test = load_mnist().test
    frame, truth = next(render_frames(test, FootageOptions(digits=(8, 8), seed=21)))
    bodies = {f"640x480 JPEG, {len(truth)} digits": cv2.imencode(".jpg", frame)[1].tobytes(),
              "28x28 PNG, one digit": cv2.imencode(".png", 255 - test.images[0])[1].tobytes(),
              **{f"{photo.name} (a real photo)": photo.read_bytes() for photo in args.photo}}
    rows, lines = [], ["| request | requests/s | p50 ms | p99 ms |", "|---|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "desk.mp4"
        render_video(video, test, FootageOptions(frames=SOURCE_FPS * 60, fps=SOURCE_FPS, frames_per_scene=60))
        with server(video, args.model) as base:
            for name, body in bodies.items():
                rate, latencies = asyncio.run(predicts(base, body, args.requests, args.concurrency))
                p50, p99 = np.percentile(latencies, 50), np.percentile(latencies, 99)
                rows.append({"request": name, "rps": rate, "p50_ms": p50, "p99_ms": p99})
                lines.append(f"| {name} | {rate:.0f} | {p50:.1f} | {p99:.1f} |")
                print(lines[-1], flush=True)
            lines += ["", f"| stream viewers | fps per viewer (source {SOURCE_FPS} fps) |", "|---:|---|"]
            for viewers in (1, 4):
                fps = asyncio.run(stream_fps(base, viewers, 8.0))
                rows.append({"viewers": viewers, "fps": fps})
                lines.append(f"| {viewers} | {', '.join(f'{f:.1f}' for f in fps)} |")
                print(lines[-1], flush=True)
            if args.screenshot:
                screenshot(base, args.screenshot)
    save(args.out, "serve", "\n".join(lines) + "\n", rows)


if __name__ == "__main__":
    run_main(main)
