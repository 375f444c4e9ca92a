#!/usr/bin/env bash
# Set up devbench on a fresh Debian/Ubuntu machine: the Debian packages it uses (the aarch64 cross
# compiler, qemu and sshd for the emulated board, the Fashion-MNIST data), a virtual environment
# with the pinned Python packages, and devbench itself (editable). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(g++-aarch64-linux-gnu qemu-user-static openssh-server openssh-client dataset-fashion-mnist)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
echo "setup: installing pinned Python packages (requirements.txt)"
.venv/bin/python -m pip install -q -r requirements.txt
echo "setup: installing ExecuTorch without its unused dependencies (requirements-nodeps.txt)"
.venv/bin/python -m pip install -q --no-deps -r requirements-nodeps.txt
.venv/bin/python -m pip install -q --no-deps -e .
echo "setup: done. Run .venv/bin/devbench --help"
