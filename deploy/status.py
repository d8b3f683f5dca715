"""`edgedigits status`: on the device, one line of what it runs and how it is, for `edgedigits fleet status`."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from edgedigits.deploy.verify import VERDICT, speed_summary

HEALTH_TIMEOUT = 2.0  # seconds for serve's /healthz to answer


@dataclass
class DeviceStatus:
    current: str  # the release `current` points at, or ""
    model: str
    version: int | None
    signer: str
    verify: str  # the verdict of the verify that installed the release
    doctor: str  # "ok", or the first thing to fix
    disk_free_mb: float
    serve: str  # "up" or why not
    ok: bool  # a release that passed its verify, and nothing for doctor to fix


def _verdict(current: Path) -> dict:
    try:
        return json.loads((current / VERDICT).read_text())
    except (OSError, ValueError):
        return {}


def serve_health(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=HEALTH_TIMEOUT) as response:
            return "up" if response.status == 200 else f"answers {response.status}"
    except urllib.error.HTTPError as exc:
        return f"answers {exc.code}"
    except (OSError, ValueError):
        return f"not listening on port {port}"


def device_status(root: Path, port: int = 8080) -> DeviceStatus:
    from edgedigits.device.doctor import device_checks, free_mb
    checks = device_checks(root)
    problem = next((c for c in checks if c.problem), None)
    current = root / "current"
    verdict = _verdict(current) if current.is_symlink() else {}
    passed = verdict.get("passed") is True
    verify = (f"{'passed' if passed else 'failed'}: {verdict.get('artifact')} {verdict.get('accuracy', 0):.2%} "
              f"(drop {verdict.get('drop_pp', 0):+.2f} pp), {speed_summary(verdict)}"
              if verdict else "no verdict" if current.is_symlink() else "nothing installed")
    free, _ = free_mb(root)
    return DeviceStatus(current.readlink().name if current.is_symlink() else "",
                        verdict.get("model", ""), verdict.get("version"), verdict.get("signer", ""), verify,
                        f"{problem.name}: {problem.problem}" if problem else "ok", round(free, 1),
                        serve_health(port), passed and not any(c.fatal for c in checks))
