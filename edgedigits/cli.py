"""The `edgedigits` command: a thin layer over the stage functions, importing each stage only when used."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from edgedigits import EdgeDigitsError, first_line
from edgedigits.targets import AUTO, DEVICES


def _host_env() -> None:
    """Import TensorFlow quietly: its C++ start-up chatter (CUDA probing, oneDNN notices) buries real output."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from edgedigits.quiet import silenced
    try:
        with silenced():
            import tensorflow  # noqa: F401
    except ImportError:
        raise EdgeDigitsError("TensorFlow is not installed: pip install 'edgedigits[host]'") from None


def _load_data(args):
    from edgedigits.datasets import load_dataset
    return load_dataset(args.data)


def cmd_data(args) -> int:
    from edgedigits.data import find_mnist, load_mnist
    directory = find_mnist()
    data = load_mnist(directory)
    print(f"MNIST at {directory}: {len(data.train)} train, {len(data.test)} test images, sha256 verified")
    return 0


def cmd_train(args) -> int:
    _host_env()
    if args.list:
        from edgedigits.train.models import zoo_table
        print(zoo_table())
        return 0
    if not args.model:
        raise EdgeDigitsError("train needs --model NAME (see edgedigits train --list)")
    from edgedigits.train.trainer import TrainConfig, train
    config = TrainConfig(model=args.model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         optimizer=args.optimizer, lr_schedule=args.lr_schedule,
                         validation_split=args.validation_split, seed=args.seed, augment=args.augment,
                         early_stopping=args.early_stopping, limit=args.limit)
    out = args.out or Path("artifacts") / args.model
    data = _load_data(args)
    if args.world:
        from edgedigits.train.world import world_dataset
        data = world_dataset(data, seed=args.seed)
    result = train(config, data, out)
    print(f"{args.model}: test accuracy {result.test_accuracy:.2%} (loss {result.test_loss:.4f}), "
          f"trained in {result.train_seconds:.0f} s -> {result.run_dir}")
    return 0


def cmd_compare(args) -> int:
    from edgedigits.train.compare import compare
    table, figure = compare(args.runs, args.out)
    print(table)
    print(f"curves: {figure}")
    return 0


def cmd_convert(args) -> int:
    _host_env()
    from edgedigits.convert.export import ConvertOptions, convert
    from edgedigits.convert.onnx import OnnxQuant
    from edgedigits.convert.calibration import DEFAULT_DIR
    options = ConvertOptions(calibration_dir=args.calibration or DEFAULT_DIR,
                             onnx=OnnxQuant(args.onnx_form, args.onnx_types, args.calibration_method,
                                            args.onnx_weights == "per-channel"),
                             pick_fastest=args.pick == "fastest", budget_pp=args.budget_pp, target=args.target,
                             report=not args.no_report)
    manifest = convert(args.run, _load_data(args), options)
    print(f"wrote {len(manifest.artifacts)} artifacts and manifest.json in {args.run}")
    if manifest.failed:
        raise EdgeDigitsError(f"{len(manifest.failed)} export(s) failed: "
                              + "; ".join(f"{f['path']}: {f['status']}" for f in manifest.failed))
    return 0


def cmd_regress(args) -> int:
    from edgedigits.convert.regress import format_findings, regress
    tolerance = {k: v for k, v in (("drop_pp", args.tol_drop_pp), ("agreement", args.tol_agreement),
                                   ("size_ratio", args.tol_size_ratio)) if v is not None}
    findings = regress(args.export, args.baseline, tolerance, update=args.update)
    if args.update:
        print(f"baseline written: {args.baseline}")
        return 0
    print(format_findings(findings))
    worse = [f for f in findings if f.worse]
    print(f"{len(worse)} of {len(findings)} figures worse than the baseline beyond tolerance" if worse
          else f"all {len(findings)} figures within tolerance of {args.baseline}")
    return 1 if worse else 0


def cmd_calibration(args) -> int:
    from edgedigits.convert.calibration import DEFAULT_DIR, build_calibration, build_from_images
    args.out = args.out or DEFAULT_DIR
    if args.source:
        count, empty = build_from_images(args.source, args.out)
        for path in empty:
            print(f"no digit found in {path}; skipped", file=sys.stderr)
        print(f"wrote {count} calibration crops from {args.source} to {args.out}")
        return 0
    count = build_calibration(_load_data(args).train, args.out, args.per_class, args.seed)
    print(f"wrote {count} calibration images from the MNIST train split to {args.out}")
    return 0


def cmd_bench(args) -> int:
    from edgedigits.device.bench import bench, format_table, write_bench
    if args.export.is_file():  # a bundle, on the device: its golden vectors stand in for the test split
        import tempfile
        from edgedigits.deploy.bundle import golden_split, open_bundle
        from edgedigits.deploy.signing import Trust
        from edgedigits.deploy.verify import trusted_folder
        with tempfile.TemporaryDirectory() as folder:  # the device's trusted keys apply as they do to verify
            opened = open_bundle(args.export, Path(folder), Trust(trusted_folder(None)))
            test, _ = golden_split(Path(folder), opened.manifest)
            rows = bench(Path(folder), test, threads=args.threads, rounds=args.rounds)
        print(f"{args.export}: {len(test)} golden vectors, single-image calls, {args.threads} thread(s)\n")
        print(format_table(rows))
    else:
        rows = bench(args.export, _load_data(args).test, threads=args.threads, rounds=args.rounds)
        print(write_bench(args.export, rows, args.threads))
        print(f"(also in {Path(args.export) / 'bench.md'} and bench.json)")
    return 0 if all(r.status == "ok" for r in rows) else 1


def cmd_bundle(args) -> int:
    from edgedigits.deploy.bundle import BundleOptions, make_bundle
    out = args.out or Path(f"{args.export.resolve().name}-{args.target}.tar.gz")
    bundle = make_bundle(args.export, _load_data(args).test, out,
                         BundleOptions(args.target, args.golden, args.budget_pp, args.version, args.sign))
    files = [a.path for a in bundle.artifacts] + [bundle.bundle["golden"]["path"]]
    print(f"wrote {out} for {args.target}: {', '.join(files)} (budget {args.budget_pp} pp, version "
          f"{bundle.bundle['version']}, {'signed with ' + str(args.sign) if args.sign else 'unsigned'})")
    return 0


def cmd_keys(args) -> int:
    from edgedigits.deploy.signing import new_keys
    keys = new_keys(args.folder, args.name)
    print(f"key {keys.key_id}: private {keys.private} (mode 0600: keep it on this machine; `edgedigits bundle "
          f"--sign {keys.private}`), public {keys.public} (`edgedigits deploy --trust {keys.public}`)")
    return 0


def _accelerator(edgetpu: bool | None) -> str | None:
    """--edgetpu / --no-edgetpu / neither: the Edge TPU, the CPU, or what the model's device target says."""
    return AUTO if edgetpu is None else "edgetpu" if edgetpu else None


def cmd_verify(args) -> int:
    from dataclasses import asdict
    import json
    from edgedigits.deploy.verify import verify
    from edgedigits.deploy.signing import Trust
    from edgedigits.deploy.verify import trusted_folder
    trust = Trust(args.trusted or trusted_folder(args.install), args.require_signed)
    verdict = verify(args.bundle, _accelerator(args.edgetpu), args.install, trust, args.allow_downgrade)
    print(json.dumps(asdict(verdict)) if args.json else verdict.table())
    return 0 if verdict.passed else 1


def cmd_rollback(args) -> int:
    from edgedigits.deploy.release import release_root, rollback
    print(rollback(release_root(args.root)))
    return 0


def cmd_deploy(args) -> int:
    from edgedigits.deploy.fleet import DeployOptions, Target, deploy
    if args.rollback and (args.trust or args.revoke):
        raise EdgeDigitsError("--rollback changes no keys: deploy --trust/--revoke without it")
    results = deploy(args.bundle, [Target.parse(h) for h in args.host], args.inventory, DeployOptions(
        args.rollback, args.remote_command, args.trust, args.revoke, args.allow_downgrade))
    for result in results:
        print(f"{result.host}: {result.line}")
    return 0 if all(r.status == "ok" for r in results) else 1


def cmd_fleet(args) -> int:
    import json
    from dataclasses import asdict
    from edgedigits.deploy.fleet import Target, fleet_status, status_table
    results = fleet_status([Target.parse(h) for h in args.host], args.inventory, args.remote_command)
    if args.json:
        print(json.dumps([asdict(r) for r in results]))
    else:
        print(status_table(results))
    return 0 if all(r.status == "ok" for r in results) else 1


def cmd_status(args) -> int:
    import json
    from dataclasses import asdict
    from edgedigits.deploy.release import release_root
    from edgedigits.deploy.status import device_status
    status = device_status(release_root(args.root), args.port)
    if args.json:
        print(json.dumps(asdict(status)))
    else:
        print("\n".join(f"{name}: {value}" for name, value in asdict(status).items()))
    return 0 if status.ok else 1


def cmd_info(args) -> int:
    import json
    import platform
    from edgedigits import __version__
    from edgedigits.device.runtime import available_runtimes
    runtimes = available_runtimes()
    print(json.dumps({"edgedigits": __version__, "python": platform.python_version(), "runtimes": runtimes}))
    if not runtimes:
        raise EdgeDigitsError("no runtime installed: pip install 'edgedigits[device]'")
    return 0


def cmd_doctor(args) -> int:
    import json
    from dataclasses import asdict
    from edgedigits.deploy.release import release_root
    from edgedigits.device.doctor import diagnose
    checks = diagnose(release_root(args.root))
    fatal = next((c for c in checks if c.fatal), None)
    if args.json:
        print(json.dumps({"ok": fatal is None, "checks": [asdict(c) for c in checks]}))
    else:
        from edgedigits.tables import markdown_table
        print(markdown_table(["check", "found", "to fix"], ([c.name, c.value, c.problem or "ok"] for c in checks)))
    if fatal is not None:
        raise EdgeDigitsError(f"{fatal.name}: {fatal.problem}")
    return 0


def cmd_run(args) -> int:
    import signal
    from edgedigits.device.live import RunOptions, Terminated, run

    def terminate(signum, frame):
        raise Terminated

    signal.signal(signal.SIGTERM, terminate)
    from edgedigits.device.sources import SourceOptions
    capture = SourceOptions(width=args.width, height=args.height, fps=args.fps, warmup=args.warmup,
                            reconnects=args.reconnects, realtime=args.realtime)
    options = RunOptions(source=args.source, model=args.model, json=args.json, headless=args.headless,
                         min_score=args.min_score, steady=args.steady, threads=args.threads,
                         accelerator=_accelerator(args.edgetpu), truth=args.truth, save=args.save,
                         max_frames=args.max_frames, capture=capture)
    summary = run(options)
    for line in summary.lines():
        print(line, file=sys.stderr if args.json else sys.stdout)
    if summary.failure:
        print(f"edgedigits: error: {summary.failure}", file=sys.stderr)
    return summary.interrupted or (1 if summary.failure else 0)


def cmd_serve(args) -> int:
    try:
        from edgedigits.device.serve import ServeOptions, serve
    except ImportError:
        raise EdgeDigitsError("serve needs aiohttp: pip install 'edgedigits[serve]'") from None
    from dataclasses import replace
    from edgedigits.device.sources import SourceOptions
    capture = SourceOptions(width=args.width, height=args.height, fps=args.fps, warmup=args.warmup,
                            reconnects=args.reconnects, realtime=True)
    options = ServeOptions(source=args.source, model=args.model, host=args.host, port=args.port, token=args.token,
                           min_score=args.min_score, steady=args.steady, threads=args.threads,
                           accelerator=_accelerator(args.edgetpu), capture=capture)
    serve(options if args.workers is None else replace(options, workers=args.workers))
    return 0


def cmd_footage(args) -> int:
    from edgedigits.footage import FootageOptions, render_video, truth_path
    options = FootageOptions(condition=args.condition, frames=args.frames, digits=tuple(args.digits), seed=args.seed)
    truth = render_video(args.out, _load_data(args).test, options)
    print(f"wrote {args.out} ({len(truth)} frames, {sum(map(len, truth))} digits) and {truth_path(args.out)}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="edgedigits", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    data_parent = argparse.ArgumentParser(add_help=False)
    data_parent.add_argument("--data", type=Path, help="an IDX folder, a .npz (x_train, y_train, x_test, y_test), "
                             "an HDF5 file (trainData, testData) or a folder of class folders; default MNIST")

    p = sub.add_parser("data", help="find or download MNIST and verify it")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("train", parents=[data_parent], help="train a zoo model")
    p.add_argument("--model", help="a zoo model (see --list)")
    p.add_argument("--list", action="store_true", help="list the zoo: name, parameters, layers, source")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--optimizer", default="adamw", choices=["adamw", "adam", "sgd", "rmsprop", "nadam", "adagrad"])
    p.add_argument("--lr-schedule", default="cosine", choices=["cosine", "step", "none"])
    p.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without a better validation accuracy")
    p.add_argument("--validation-split", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--augment", action="store_true", help="random shifts/rotations/zoom of training images")
    p.add_argument("--limit", type=int, help="train on the first N images only")
    p.add_argument("--world", action="store_true", help="also digits printed in TrueType fonts, and an 11th class "
                   "N (not a digit: lines, page edges, letters, scribbles, parts of digits) for live reading")
    p.add_argument("--out", type=Path, help="run folder (default artifacts/MODEL)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("compare", help="curves and a table of several training runs")
    p.add_argument("runs", type=Path, nargs="+", help="run folders (with history.json and metrics.json)")
    p.add_argument("--out", type=Path, default=Path("compare.png"), help="figure to write")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("convert", parents=[data_parent], help="write TFLite/ONNX artifacts and manifest.json")
    p.add_argument("run", type=Path, help="a training run folder (with model.keras)")
    p.add_argument("--calibration", type=Path, help="folder of 28x28 calibration images (default: the project's "
                   "calibration_data)")
    p.add_argument("--onnx-form", default="qdq", choices=["qdq", "qoperator"])
    p.add_argument("--onnx-types", default="u8s8", choices=["u8s8", "s8s8"], help="activation/weight int types")
    p.add_argument("--onnx-weights", default="per-channel", choices=["per-channel", "per-tensor"])
    p.add_argument("--calibration-method", default="minmax", choices=["minmax", "entropy", "percentile"])
    p.add_argument("--pick", choices=["fastest"], help="measure every ONNX int8 form, type and weight "
                   "granularity; keep the fastest within --budget-pp")
    p.add_argument("--budget-pp", type=float, default=0.1, help="accuracy a picked model may lose, in points")
    p.add_argument("--target", default="all", choices=["all", "edgetpu"],
                   help="edgetpu: also a static full-int8 model, its op-by-op Edge TPU check and compilation")
    p.add_argument("--no-report", action="store_true", help="skip quantization.md")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("regress", help="fail when int8 figures get worse than a baseline")
    p.add_argument("export", type=Path)
    p.add_argument("--baseline", type=Path, required=True)
    p.add_argument("--update", action="store_true", help="rewrite the baseline from this export")
    p.add_argument("--tol-drop-pp", type=float)
    p.add_argument("--tol-agreement", type=float)
    p.add_argument("--tol-size-ratio", type=float)
    p.set_defaults(func=cmd_regress)

    p = sub.add_parser("calibration", parents=[data_parent],
                       help="rebuild calibration_data/ from the train split or from your own images")
    p.add_argument("action", choices=["build"])
    p.add_argument("--per-class", type=int, default=50)
    p.add_argument("--from", dest="source", type=Path, help="cut the digits out of your own images instead "
                   "(any size and polarity; class folders give labels), normalized as the device does")
    p.add_argument("--out", type=Path, help="default: the project's calibration_data")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_calibration)

    p = sub.add_parser("bench", parents=[data_parent],
                       help="accuracy and latency of every artifact of an export or a bundle")
    p.add_argument("export", type=Path, help="an export folder, or a bundle (.tar.gz: its golden vectors)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=10)
    p.set_defaults(func=cmd_bench)

    camera_parent = argparse.ArgumentParser(add_help=False)
    camera_parent.add_argument("--source", required=True, help="camera index, picamera, a GStreamer pipeline, a "
                               "video file, an image file or a folder of images")
    camera_parent.add_argument("--model", type=Path, help="a .tflite/.onnx file or an export folder (default: "
                               "artifacts/live, which `make demo` trains, else ~/edgedigits/current on a device)")
    camera_parent.add_argument("--min-score", type=float, default=0.9, help="report digits scored at least this "
                               "(0.1 less in a frame with no words in view, for a model with a 'not a digit' class); "
                               "lower finds more faint digits and more non-digits")
    camera_parent.add_argument("--steady", action="store_true", help="keep a digit only if 6 slightly moved "
                               "copies of it score too: rejects most letters and scribbles, 6x the inference")
    camera_parent.add_argument("--threads", type=int, default=1)
    camera_parent.add_argument("--edgetpu", action=argparse.BooleanOptionalAction, help="run on a Coral Edge TPU "
                               "(libedgetpu.so.1); default: as a release's target says (coral: yes), "
                               "--no-edgetpu: the CPU (a coral release runs its CPU twin)")
    camera_parent.add_argument("--width", type=int)
    camera_parent.add_argument("--height", type=int)
    camera_parent.add_argument("--fps", type=float)
    camera_parent.add_argument("--warmup", type=int, default=10, help="camera frames skipped while exposure settles")
    camera_parent.add_argument("--reconnects", type=int, default=5,
                               help="reopen a camera that stops, at most this often")

    p = sub.add_parser("run", parents=[camera_parent], help="read digits from a camera, video, image or folder of images")
    p.add_argument("--json", action="store_true", help="one JSON line per frame on stdout")
    p.add_argument("--headless", action="store_true", help="never open a window")
    p.add_argument("--realtime", action="store_true", help="play a video file like a camera (newest frame only)")
    p.add_argument("--save", type=Path, help="write the annotated video here (.mp4)")
    p.add_argument("--truth", type=Path, help="ground truth (.truth.json) to score the result against")
    p.add_argument("--max-frames", type=int)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("serve", parents=[camera_parent], help="a live web view and REST endpoint for a headless device")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on; other than loopback needs --token")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--token", help="required on every request but /healthz (or set EDGEDIGITS_TOKEN)")
    p.add_argument("--workers", type=int, help="predictions read at once, each in a process of ~60 MB with its own "
                   "model (default: one per core, at most 4)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("bundle", parents=[data_parent], help="one checked .tar.gz of a model for a device")
    p.add_argument("export", type=Path, help="a converted run folder (with manifest.json)")
    p.add_argument("--target", default="pi", choices=list(DEVICES),
                   help="; ".join(f"{d.name}: {d.describe}" for d in DEVICES.values()))
    p.add_argument("-o", "--out", type=Path, help="default: <run>-<target>.tar.gz")
    p.add_argument("--golden", type=int, default=500, help="test images carried along with the float outputs")
    p.add_argument("--budget-pp", type=float, default=0.5, help="accuracy drop verify accepts, in points")
    p.add_argument("--version", type=int, help="devices refuse an older version than they installed (default: "
                   "the time now, in seconds)")
    p.add_argument("--sign", type=Path, metavar="KEY", help="sign the manifest with this private key "
                   "(`edgedigits keys new`)")
    p.set_defaults(func=cmd_bundle)

    p = sub.add_parser("keys", help="make an Ed25519 key pair to sign bundles with")
    p.add_argument("action", choices=["new"])
    p.add_argument("folder", type=Path)
    p.add_argument("--name", default="edgedigits", help="the files are NAME.key and NAME.pub")
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser("verify", help="on the device: the bundle's model against its float model")
    p.add_argument("bundle", type=Path)
    p.add_argument("--json", action="store_true")
    p.add_argument("--edgetpu", action=argparse.BooleanOptionalAction,
                   help="use the Edge TPU delegate (default: for coral bundles)")
    p.add_argument("--install", type=Path, metavar="ROOT", help="when verified, install the bundle as a release "
                   "in ROOT/releases and make it ROOT/current (the old one becomes ROOT/previous)")
    p.add_argument("--trusted", type=Path, metavar="DIR", help="the public keys (*.pub) bundles must be signed "
                   "with (default: ROOT/trusted, or ~/edgedigits/trusted); a file DIR/revoked lists revoked key ids")
    p.add_argument("--require-signed", action="store_true", help="refuse unsigned bundles even with no trusted keys")
    p.add_argument("--allow-downgrade", action="store_true",
                   help="install a version older than the newest installed")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("rollback", help="on the device: swap the current and previous releases")
    p.add_argument("root", nargs="?", default="~/edgedigits", help="the edgedigits folder (default ~/edgedigits)")
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("deploy", help="deploy a bundle to devices with Ansible: verify there, then switch")
    p.add_argument("bundle", type=Path, nargs="?")
    p.add_argument("--host", action="append", default=[], metavar="USER@HOST[:PORT][:DIR]")
    p.add_argument("--inventory", type=Path, help="any Ansible inventory")
    p.add_argument("--rollback", action="store_true", help="switch back to the previous version")
    p.add_argument("--remote-command", help="how to run edgedigits on the devices (default: edgedigits)")
    p.add_argument("--trust", type=Path, metavar="KEY.pub", help="first add this public key to each device's "
                   "trusted keys; from then on the device accepts only bundles signed by a trusted key")
    p.add_argument("--revoke", metavar="KEY_ID", help="first add this key id to each device's revoked keys: "
                   "bundles it signed are refused from then on, whatever .pub files remain")
    p.add_argument("--allow-downgrade", action="store_true", help="let devices install an older version")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("fleet", help="the status of every device: release, version, signer, verify, doctor, disk, "
                       "serve; exit 1 when one is unreachable or failing")
    p.add_argument("action", choices=["status"])
    p.add_argument("--host", action="append", default=[], metavar="USER@HOST[:PORT][:DIR]")
    p.add_argument("--inventory", type=Path, help="any Ansible inventory")
    p.add_argument("--remote-command", help="how to run edgedigits on the devices (default: edgedigits)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_fleet)

    p = sub.add_parser("status", help="on the device: the current release, its version, signer and verify, "
                       "doctor's finding, disk and serve, for `fleet status`")
    p.add_argument("root", nargs="?", default="~/edgedigits", help="the edgedigits folder (default ~/edgedigits)")
    p.add_argument("--port", type=int, default=8080, help="serve's port")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("info", help="version, Python and the runtimes installed here")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("doctor", help="on the device: Python, numpy, OpenCV, runtimes, Edge TPU, cameras, disk, "
                       "memory and the current release; exit 1 with the first thing to fix")
    p.add_argument("root", nargs="?", default="~/edgedigits", help="the edgedigits folder (default ~/edgedigits)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("footage", parents=[data_parent], help="render test video of MNIST test digits on paper")
    p.add_argument("out", type=Path)
    p.add_argument("--frames", type=int, default=60)
    # The footage package draws with OpenCV: where it is missing or broken, every other command still runs.
    from edgedigits.quiet import quiet_import
    conditions = quiet_import("edgedigits.footage.conditions")
    CONDITIONS = {} if isinstance(conditions, ImportError) else conditions.CONDITIONS
    p.add_argument("--condition", default="plain", choices=list(CONDITIONS) or None, metavar="CONDITION",
                   help="scene, layout, paper, ink, light and blur: one of " + ", ".join(CONDITIONS))
    p.add_argument("--digits", type=int, nargs=2, default=[4, 16], metavar=("MIN", "MAX"), help="digits per frame")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_footage)
    return top


# The install that brings each module a command may miss, by its top-level name.
INSTALLS = {
    "cv2": "OpenCV is not installed: pip install 'edgedigits[device]' (on Raspberry Pi OS: apt install "
           "python3-opencv, a venv made with --system-site-packages, pip install 'edgedigits[pi]')",
    "aiohttp": "aiohttp is not installed: pip install 'edgedigits[serve]'",
    "ansible": "Ansible is not installed: pip install 'edgedigits[deploy]'",
    "prometheus_client": "prometheus_client is not installed: pip install 'edgedigits[serve]'",
    **dict.fromkeys(("tensorflow", "keras", "tf2onnx", "onnx", "matplotlib"),
                    "this runs on the workstation: pip install 'edgedigits[host]'"),
}


def _missing(module: str) -> str:
    top = module.split(".")[0]
    return f"no module {top!r}: " + INSTALLS.get(top, "pip install 'edgedigits[device]' on a device, "
                                                 "'edgedigits[host]' on the workstation")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from edgedigits.quiet import quiet_import
    opencv = quiet_import("cv2")  # already imported by the parser where it works
    if args.func is not cmd_doctor and isinstance(opencv, ImportError) and not isinstance(opencv, ModuleNotFoundError):
        print(f"edgedigits: error: OpenCV does not import ({first_line(opencv)}): `edgedigits doctor` says what "
              "to fix", file=sys.stderr)
        return 1
    try:
        return args.func(args)
    except EdgeDigitsError as exc:
        print(f"edgedigits: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("edgedigits: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:  # an extra this command needs is not installed here
        print(f"edgedigits: error: {_missing(exc.name or '')}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug or an unforeseen library failure: still one line, unless debugging
        if os.environ.get("EDGEDIGITS_DEBUG"):
            raise
        text = str(exc).strip().splitlines()
        print(f"edgedigits: error: unexpected {type(exc).__name__}: {text[0][:300] if text else ''} "
              "(EDGEDIGITS_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
