"""The quantization regression guard, on the session's small seeded model."""
import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from edgedigits.convert.calibration import DEFAULT_DIR
from edgedigits.convert.regress import regress
from tests.conftest import cli

BASELINE = Path(__file__).parent / "baselines" / "quick_conv_net.json"


def test_quantization_is_no_worse_than_the_committed_baseline(quick_export):
    """CI's guard: a change that makes int8 lose accuracy, agree less with float or grow fails here.
    Refresh after an intended change with: edgedigits regress EXPORT --baseline tests/baselines/quick_conv_net.json --update
    The baseline holds on every CPU CI runs on: int8 ONNX's 7-bit weights keep ONNX Runtime's u8s8 kernels from
    saturating on CPUs without VNNI (an AVX2 EPYC: agreement 0.9933 with 8-bit weights, 0.9979 with 7)."""
    done = cli("regress", quick_export, "--baseline", BASELINE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "within tolerance" in done.stdout
    assert len(regress(quick_export, BASELINE)) == 3 * len(json.loads(BASELINE.read_text())["artifacts"])


def test_a_planted_regression_fails_the_build(quick_export, tmp_path):
    """Calibrating on under-exposed images clips every activation range: a real, measurable int8 regression."""
    baseline = tmp_path / "baseline.json"
    assert cli("regress", quick_export, "--baseline", baseline, "--update").returncode == 0
    dim = tmp_path / "dim_calibration"
    dim.mkdir()
    for path in sorted(DEFAULT_DIR.glob("*.png")):
        cv2.imwrite(str(dim / path.name), (cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) * 0.15).astype(np.uint8))
    run = shutil.copytree(quick_export, tmp_path / "run")
    assert cli("convert", run, "--calibration", dim).returncode == 0
    done = cli("regress", run, "--baseline", baseline)
    assert done.returncode == 1, done.stdout
    worse = [line for line in done.stdout.splitlines() if line.endswith("| WORSE |")]
    assert any("model_int8.tflite | drop_pp" in line for line in worse), done.stdout
    assert "figures worse than the baseline" in done.stdout


def test_update_keeps_the_stated_tolerance(quick_export, tmp_path):
    baseline = tmp_path / "baseline.json"
    assert cli("regress", quick_export, "--baseline", baseline, "--update", "--tol-drop-pp", "0.3").returncode == 0
    assert json.loads(baseline.read_text())["tolerance"]["drop_pp"] == 0.3
    assert cli("regress", quick_export, "--baseline", baseline, "--update").returncode == 0
    assert json.loads(baseline.read_text())["tolerance"]["drop_pp"] == 0.3
    assert cli("regress", quick_export, "--baseline", tmp_path / "absent.json").returncode == 1
