"""`edgedigits deploy`: the project's Ansible playbooks run over hosts or an inventory, a result line per host."""
from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgedigits import EdgeDigitsError
from edgedigits.deploy.verify import speed_summary
from edgedigits.tables import markdown_table

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
# The device's Python, given rather than discovered: discovery may pick whatever a login shell puts first (pyenv
# shims, a venv) and fail. Raspberry Pi OS and Debian have it here. As Ansible's configured default it is the
# weakest setting: an inventory's ansible_python_interpreter, for a host or a group, wins.
DEVICE_PYTHON = "/usr/bin/python3"


_USER = re.compile(r"[A-Za-z_][A-Za-z0-9._-]{0,31}")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_FOLDER = re.compile(r"[/~][A-Za-z0-9._/~+-]{0,255}")
HOST_FORM = "[user@]host[:port][:/folder or :~/folder]"


@dataclass(frozen=True)
class Target:
    """One `[user@]host[:port][:dir]` of the command line, every part checked: these become inventory values."""
    user: str
    host: str
    port: int | None
    directory: str

    @classmethod
    def parse(cls, text: str) -> "Target":
        user, at, rest = text.rpartition("@")
        if rest.startswith("["):  # an IPv6 address: [::1]:22:/dir
            host, _, rest = rest[1:].partition("]")
            rest = rest.removeprefix(":")
        else:
            host, _, rest = rest.partition(":")
        port, folder = (rest.split(":", 1) + [""])[:2] if rest[:1].isdigit() else ("", rest)
        problem = (f"user {user!r}" if at and not _USER.fullmatch(user) else
                   f"host {host!r}" if not (_HOSTNAME.fullmatch(host) or _is_address(host)) else
                   f"port {port!r}" if port and not (port.isdigit() and 0 < int(port) < 65536) else
                   f"folder {folder!r} (absolute or ~, letters, digits and ._/~+- only)"
                   if folder and not _FOLDER.fullmatch(folder) else "")
        if problem or len(host) > 253:
            raise EdgeDigitsError(f"--host {text!r}: bad {problem or 'host'}; expected {HOST_FORM}")
        return cls(user, host, int(port) if port else None, folder)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _unsafe(value) -> str:
    """A YAML value Ansible takes as data and never renders as a template (JSON strings are YAML strings)."""
    return f"!unsafe {json.dumps(value)}" if isinstance(value, str) else json.dumps(value)


def inventory_text(targets: list[Target]) -> str:
    """A YAML inventory of the targets, every value data; two folders on one host become two inventory hosts."""
    lines = ["all:", "  children:", "    edgedigits:", "      hosts:"]
    for number, target in enumerate(targets):
        name = target.host if sum(t.host == target.host for t in targets) == 1 else f"{target.host}-{number}"
        fields = {"ansible_host": target.host, "ansible_user": target.user, "ansible_port": target.port,
                  "edgedigits_dir": target.directory}
        lines.append(f"        {json.dumps(name)}:" + ("" if any(fields.values()) else " {}"))
        lines += [f"          {key}: {_unsafe(value)}" for key, value in fields.items() if value]
    return "\n".join(lines) + "\n"


@dataclass
class HostResult:
    host: str
    status: str  # ok | failed | unreachable
    line: str
    device: dict | None = None  # what `edgedigits status` said (fleet status)


def _result_line(result: dict) -> str:
    verify = result.get("verify")
    if result["status"] != "ok":
        return f"FAILED at {result['step']!r}: {result['message']}"
    if verify is None:
        return f"current -> {result['current']}" if result.get("current") else "trusted keys changed"
    # A device still on an older edgedigits reports no version or signer.
    return (f"current -> {result['current']}; version {verify.get('version', '?')}, "
            f"{verify.get('signer', 'signer unknown')}; {verify['artifact']} on {verify['runtime']}: accuracy "
            f"{verify['accuracy']:.2%} vs float {verify['float_accuracy']:.2%} (drop {verify['drop_pp']:+.2f} pp, "
            f"agreement {verify['agreement']:.2%}), p50 {verify['p50_us']:.0f} µs vs {verify['float_p50_us']:.0f} µs "
            f"({speed_summary(verify)})")


def _status_line(result: dict) -> str:
    device = result.get("device")
    if result["status"] != "ok" or device is None:
        return f"FAILED at {result['step']!r}: {result['message']}"
    return f"{device['current'] or 'nothing installed'}, version {device['version']}: {device['verify']}"


def status_table(results: list[HostResult]) -> str:
    """fleet status: a row per host (an unreachable or failed one says why in its release column)."""
    def cells(device: dict) -> list:
        return [device["current"] or "nothing installed", device["version"], device["signer"], device["verify"],
                device["doctor"], f"{device['disk_free_mb']:,.0f}", device["serve"]]
    return markdown_table(["host", "release", "version", "signer", "verify", "doctor", "MB free", "serve"],
                          ([r.host, *(cells(r.device) if r.device else [r.line] + [""] * 6)] for r in results),
                          right={"version", "MB free"})


def run_playbook(playbook: str, inventory: Path, extra: dict[str, str], forks: int = 10,
                 line: Callable[[dict], str] = _result_line) -> list[HostResult]:
    """Run one of the project's playbooks (its output and recap go to the terminal) and read each host's result."""
    binary = shutil.which("ansible-playbook") or str(Path(sys.executable).with_name("ansible-playbook"))
    if not Path(binary).exists():
        raise EdgeDigitsError("ansible-playbook not found: pip install 'edgedigits[deploy]'")
    if not Path(inventory).exists():
        raise EdgeDigitsError(f"{inventory}: inventory not found")
    with tempfile.TemporaryDirectory() as results:
        # Extra variables go in a file of data: on the command line Ansible would render them as templates.
        variables = Path(results) / "vars.yml"
        variables.write_text("".join(f"{key}: {_unsafe(value)}\n" for key, value in
                                     {**extra, "results_dir": str(Path(results) / "hosts")}.items()))
        (Path(results) / "hosts").mkdir()
        command = [binary, "-i", str(inventory), str(PLAYBOOKS / playbook), "--forks", str(forks),
                   "-e", f"@{variables}"]
        # Ansible's own output goes to stderr, keeping stdout for the result lines.
        # Pipelining sends each module over the open SSH connection instead of copying it first: a deploy to two
        # hosts took 14 s instead of 18. It fails only with `become` under sudo's requiretty, which no step uses.
        subprocess.run(command, stdout=sys.stderr, env={"ANSIBLE_PYTHON_INTERPRETER": DEVICE_PYTHON,
                                                        "ANSIBLE_PIPELINING": "True", **os.environ,
                                                        "ANSIBLE_NOCOLOR": "1"})
        hosts = _inventory_hosts(binary, inventory)
        # Result files are named by a hash of the host (any inventory name is safe); the host is inside.
        found = {r["host"]: r for r in (json.loads(p.read_text()) for p in (Path(results) / "hosts").glob("*.json"))}
    return [HostResult(host, _host_status(found[host]), line(found[host]), found[host].get("device")) if host in found
            else HostResult(host, "unreachable", "UNREACHABLE (see Ansible's output above)") for host in hosts]


def _host_status(result: dict) -> str:
    """A host that answered fleet status but is not fit to run its release counts as failed."""
    device = result.get("device")
    return "failed" if result["status"] == "ok" and device is not None and not device["ok"] else result["status"]


def _inventory_hosts(binary: str, inventory: Path) -> list[str]:
    done = subprocess.run([str(Path(binary).with_name("ansible-inventory")), "-i", str(inventory), "--list"],
                          capture_output=True, text=True)
    try:
        return sorted(json.loads(done.stdout)["_meta"]["hostvars"])
    except (ValueError, KeyError):
        raise EdgeDigitsError(f"{inventory}: Ansible cannot read this inventory") from None


def _trust(key: Path) -> dict[str, str]:
    """The playbook's variables for pushing a public key (checked here: a private key never leaves)."""
    from edgedigits.deploy.signing import key_id, load_public
    return {"trust_key": str(Path(key).resolve()), "trust_name": f"{key_id(load_public(key))}.pub"}


def on_hosts(playbook: str, targets: list[Target], inventory: Path | None, extra: dict,
             line: Callable[[dict], str] = _result_line) -> list[HostResult]:
    """Run one of the project's playbooks on the targets or the hosts of an inventory; `line` reads a host's
    result."""
    if bool(targets) == bool(inventory):
        raise EdgeDigitsError("give --host user@host[:port][:dir] (repeatable) or --inventory FILE, not both")
    if inventory is not None:
        return run_playbook(playbook, inventory, extra, line=line)
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as generated:
        generated.write(inventory_text(targets))
        generated.flush()
        return run_playbook(playbook, Path(generated.name), extra, line=line)


@dataclass(frozen=True)
class DeployOptions:
    rollback: bool = False
    remote_command: str | None = None  # how to run edgedigits on the devices
    trust: Path | None = None  # a public key each device adds to its trusted keys first
    revoke: str | None = None  # a key id each device adds to its revoked list first
    allow_downgrade: bool = False


def deploy(bundle: Path | None, targets: list[Target], inventory: Path | None,
           options: DeployOptions = DeployOptions()) -> list[HostResult]:
    """Deploy a bundle (or roll back, or only change the trusted keys) to the targets or an inventory's hosts."""
    keys_only = bundle is None and (options.trust or options.revoke)
    if not options.rollback and not keys_only and (bundle is None or not Path(bundle).is_file()):
        raise EdgeDigitsError(f"{bundle}: bundle not found")
    extra = {} if options.rollback or bundle is None else {"bundle": str(Path(bundle).resolve())}
    if options.remote_command:
        extra["edgedigits_command"] = options.remote_command
    if options.trust is not None:
        extra.update(_trust(options.trust))
    if options.revoke is not None:
        from edgedigits.deploy.signing import KEY_ID
        if not KEY_ID.fullmatch(options.revoke):
            raise EdgeDigitsError(f"--revoke {options.revoke!r}: a key id is 16 hex digits (`edgedigits keys new` "
                                  "printed it)")
        extra["revoke_key"] = options.revoke
    if options.allow_downgrade:
        extra["allow_downgrade"] = True
    return on_hosts("rollback.yml" if options.rollback else "deploy.yml", targets, inventory, extra)


def fleet_status(targets: list[Target], inventory: Path | None, remote_command: str | None) -> list[HostResult]:
    """Each host's release, version, signer, verify verdict, doctor's finding, free disk and serve."""
    return on_hosts("status.yml", targets, inventory, {"edgedigits_command": remote_command} if remote_command else {},
                    line=_status_line)
