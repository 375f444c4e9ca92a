"""An aarch64 root filesystem with Python 3.11, numpy, the TVM runtime and ExecuTorch's, built without root or binfmt.

Debian's arm64 packages are fetched with the host's own ``apt-get`` pointed at a private state
directory (the host's package database is never touched), unpacked with ``dpkg -x``, and the Python
packages come from PyPI's manylinux aarch64 wheels via ``pip install --target``. The result runs
under ``qemu-aarch64-static -L ROOTFS``. The build is cached: a finished root filesystem carries a
stamp of the recipe that made it and is rebuilt only when the recipe changes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from devbench.errors import DevbenchError

#: Debian bookworm arm64 packages: python3.11 and the shared libraries its stdlib and the wheels load.
DEB_PACKAGES = (
    "libc6", "libgcc-s1", "gcc-12-base", "libstdc++6", "zlib1g", "libexpat1", "libffi8", "libssl3",
    "libbz2-1.0", "liblzma5", "libsqlite3-0", "libncursesw6", "libtinfo6", "libreadline8", "libuuid1",
    "libdb5.3", "libgdbm6", "libcrypt1", "libnsl2", "libtirpc3", "libtirpc-common", "libgssapi-krb5-2",
    "libk5crypto3", "libkeyutils1", "libkrb5-3", "libkrb5support0", "libcom-err2", "media-types",
    "libpython3.11-minimal", "libpython3.11-stdlib", "python3.11-minimal",
)
#: aarch64 wheels for the board; TVM must match the host's compiler version exactly. onnxruntime's
#: aarch64 wheel is left out: it dies with SIGSEGV on import under qemu-user 7.2.
PIP_PACKAGES = ("numpy==2.4.6", "apache-tvm==0.27.0.post1", "apache-tvm-ffi==0.1.14.post0")
#: installed without their declared dependencies: ExecuTorch's C++ libraries need none (its
#: dependencies are torch and the export's tools, which the board does not use)
NO_DEPS_PACKAGES = ("executorch==1.5.1",)
PIP_PLATFORM = "manylinux_2_28_aarch64"
PYTHON_VERSION = "3.11"
GUEST_PYTHON = "usr/bin/python3.11"
SITE_DIR = "opt/site"
STAMP = ".devbench-rootfs.json"


def recipe() -> dict[str, object]:
    """What a root filesystem is built from; a change of any of it means a rebuild."""
    return {"debs": list(DEB_PACKAGES), "pip": list(PIP_PACKAGES), "pip_no_deps": list(NO_DEPS_PACKAGES),
            "platform": PIP_PLATFORM, "python": PYTHON_VERSION}


def recipe_hash() -> str:
    return hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:16]


def is_built(rootfs: Path) -> bool:
    try:
        stamp = json.loads((rootfs / STAMP).read_text())
    except (OSError, ValueError):
        return False
    return stamp.get("recipe") == recipe_hash() and (rootfs / GUEST_PYTHON).exists()


def _apt_options(work: Path) -> list[str]:
    """Options that give apt its own arm64 package lists and cache, and an empty package database."""
    lists, cache = work / "apt-lists", work / "apt-cache"
    for d in (lists / "partial", cache / "archives" / "partial"):
        d.mkdir(parents=True, exist_ok=True)
    return [
        "-q", "-o", "APT::Architecture=arm64", "-o", "APT::Architectures=arm64",
        "-o", f"Dir::State::Lists={lists}", "-o", "Dir::State::status=/dev/null", "-o", f"Dir::Cache={cache}",
        # downloads run as the _apt user when apt is started by root; a private dir is not readable by it
        "-o", "APT::Sandbox::User=root",
    ]


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise DevbenchError(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}")


def _need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise DevbenchError(f"{tool} not found; run scripts/setup.sh (or apt-get install {package})")
    return path


def download_debs(work: Path) -> list[Path]:
    """The arm64 .deb files of :data:`DEB_PACKAGES`, fetched into ``work/debs`` (kept as a cache)."""
    apt = _need("apt-get", "apt")
    opts = _apt_options(work)
    debs = work / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    _run([apt, *opts, "update"], "apt-get update (arm64 package lists)")
    _run([apt, *opts, "download", *DEB_PACKAGES], "apt-get download (arm64 packages)", cwd=debs)
    return sorted(debs.glob("*.deb"))


def build_rootfs(rootfs: Path, log=print) -> float:
    """Build the root filesystem at ``rootfs`` unless a current one is there; returns seconds spent."""
    if is_built(rootfs):
        return 0.0
    t0 = time.perf_counter()
    dpkg = _need("dpkg", "dpkg")
    work = rootfs.parent / "build"
    tmp = rootfs.parent / (rootfs.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log(f"downloading {len(DEB_PACKAGES)} Debian arm64 packages")
    for deb in download_debs(work):
        _run([dpkg, "-x", str(deb), str(tmp)], f"dpkg -x {deb.name}")
    log(f"installing aarch64 wheels: {' '.join(PIP_PACKAGES + NO_DEPS_PACKAGES)}")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
           "--target", str(tmp / SITE_DIR), "--platform", PIP_PLATFORM, "--only-binary=:all:",
           "--python-version", PYTHON_VERSION, "--implementation", "cp"]
    _run([*pip, *PIP_PACKAGES], "pip install of the aarch64 wheels")
    _run([*pip, "--no-deps", *NO_DEPS_PACKAGES], "pip install of the aarch64 wheels")
    (tmp / STAMP).write_text(json.dumps({"recipe": recipe_hash(), **recipe()}, indent=1))
    shutil.rmtree(rootfs, ignore_errors=True)
    tmp.rename(rootfs)
    return time.perf_counter() - t0
