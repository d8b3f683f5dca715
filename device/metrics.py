"""`serve`'s Prometheus metrics: frames, drops, digits and stage latency, as Frigate, Triton and DeepStream export."""
from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.aiohttp import make_aiohttp_handler

from edgedigits.device.live import FrameResult, LoadedModel
from edgedigits.manifest import sha256_file

# Prometheus' default buckets start at 5 ms, where a whole frame here takes about 2: 0.1 ms to 100 ms instead.
STAGE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


class Metrics:
    """One registry per server (not the process-wide default: tests run several servers in one process)."""

    def __init__(self, model: LoadedModel, fps: Callable[[], float]):
        self.registry = registry = CollectorRegistry()
        self.frames = Counter("edgedigits_frames", "Frames read and classified", registry=registry)
        self.dropped = Counter("edgedigits_frames_dropped", "Camera frames dropped because the pipeline was busy",
                               registry=registry)
        self.digits = Counter("edgedigits_digits", "Digits read, by label", ["label"], registry=registry)
        self.rejected = Counter("edgedigits_rejected", "Candidates below the score threshold or read as not a digit",
                                registry=registry)
        self.stages = Histogram("edgedigits_stage_seconds", "Time a frame spends in each stage", ["stage"],
                                buckets=STAGE_BUCKETS, registry=registry)
        Gauge("edgedigits_camera_fps", "Frames a second over the last two seconds",
              registry=registry).set_function(fps)
        self.requests = Counter("edgedigits_predict_requests", "POST /api/predict answers, by HTTP status", ["code"],
                                registry=registry)
        info = Gauge("edgedigits_model_info", "The model served (always 1)",
                     ["model", "precision", "runtime", "sha256", "version"], registry=registry)
        info.labels(model.name, model.precision, model.classifier.runtime, model.sha256 or sha256_file(model.path),
                    "" if model.version is None else str(model.version)).set(1)
        self._dropped = 0

    def frame(self, result: FrameResult, dropped: int) -> None:
        """Count one frame of the live loop; `dropped` is the source's running total."""
        self.frames.inc()
        if dropped > self._dropped:
            self.dropped.inc(dropped - self._dropped)
            self._dropped = dropped
        for digit in result.digits:
            self.digits.labels(digit["label"]).inc()
        self.rejected.inc(result.rejected)
        for stage, ms in (("capture", result.capture_ms), *result.ms.items()):
            self.stages.labels(stage).observe(ms / 1000)

    def handler(self):
        return make_aiohttp_handler(self.registry)
