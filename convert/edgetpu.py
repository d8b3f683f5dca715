"""Edge TPU readiness: the compiler's own rules checked op by op, and the compiler run when installed."""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgedigits.manifest import write_atomic
from edgedigits.tables import markdown_table

# Coral's list of operations the Edge TPU compiler maps (coral.ai/docs/edgetpu/models-intro).
EDGETPU_OPS = {
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS", "FULLY_CONNECTED",
    "L2_NORMALIZATION", "LOGISTIC", "LSTM", "MAXIMUM", "MAX_POOL_2D", "MEAN", "MINIMUM", "MUL", "PACK", "PAD",
    "PRELU", "QUANTIZE", "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6", "RELU_N1_TO_1", "RESHAPE",
    "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SLICE", "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT",
    "SQUARED_DIFFERENCE", "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "TANH", "TRANSPOSE", "TRANSPOSE_CONV",
}
QUANTIZED = (np.int8, np.uint8, np.int32)  # int32 only for biases
COMPILER = "edgetpu_compiler"
HOW_TO_GET = ("the Edge TPU compiler is not installed (x86-64 Debian/Ubuntu only, from Coral's own package "
              "feed: apt-get install edgetpu-compiler); the model above is ready for it")


@dataclass(frozen=True)
class OpCheck:
    index: int
    op: str
    problems: tuple[str, ...]
    on_tpu: bool  # the compiler maps ops until the first it cannot; the rest run on the CPU


def check_ops(model_path: Path) -> list[OpCheck]:
    """Each op of a TFLite model against the Edge TPU's rules: supported op, 8-bit tensors, static shapes."""
    from edgedigits.device.runtime import inspecting_interpreter, model_ops
    interpreter = inspecting_interpreter(model_path)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    checks, mapped = [], True
    for op in model_ops(interpreter):
        problems = [] if op["op_name"] in EDGETPU_OPS else ["not an Edge TPU operation"]
        for index in [*op["inputs"], *op["outputs"]]:
            tensor = tensors.get(int(index))
            if tensor is None:
                continue
            if tensor["dtype"] not in QUANTIZED:
                problems.append(f"tensor {tensor['name']} is {np.dtype(tensor['dtype']).name}, not 8-bit")
            if (np.asarray(tensor["shape_signature"]) < 0).any():
                problems.append(f"tensor {tensor['name']} has a dynamic shape {tensor['shape_signature'].tolist()}")
        mapped = mapped and not problems
        checks.append(OpCheck(int(op["index"]), op["op_name"], tuple(dict.fromkeys(problems)), mapped))
    return checks


def format_checks(checks: list[OpCheck]) -> str:
    on_tpu = sum(c.on_tpu for c in checks)
    lines = [f"Edge TPU readiness: {on_tpu} of {len(checks)} operations map to the Edge TPU"
             + ("" if on_tpu == len(checks) else "; from the first unsupported one on, all run on the CPU"), "",
             markdown_table(["#", "op", "runs on", "problems"], ([c.index, c.op, "Edge TPU" if c.on_tpu else "CPU",
                                                               "; ".join(c.problems) or "—"] for c in checks), {"#"})]
    return "\n".join(lines)


def compile_for_edgetpu(model_path: Path) -> str:
    """Run edgetpu_compiler when it is on PATH; otherwise say so. Never claims a model it did not compile."""
    compiler = shutil.which(COMPILER)
    if compiler is None:
        return HOW_TO_GET
    out_dir = model_path.parent
    done = subprocess.run([compiler, "--out_dir", str(out_dir), "--show_operations", str(model_path)],
                          capture_output=True, text=True, timeout=600)
    log = out_dir / f"{model_path.stem}_edgetpu.log"
    write_atomic(log, done.stdout + done.stderr)
    compiled = out_dir / f"{model_path.stem}_edgetpu.tflite"
    if done.returncode != 0 or not compiled.exists():
        return f"edgetpu_compiler failed (exit {done.returncode}); see {log.name}"
    return f"compiled by edgetpu_compiler: {compiled.name} (log: {log.name})"
