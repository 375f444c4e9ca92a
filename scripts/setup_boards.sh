#!/bin/sh
# Host packages for remote and emulated boards (issue 4): an sshd for the emulated Pi and the SSH
# tests, qemu-user to run aarch64 Python without binfmt_misc, and the aarch64 cross compiler that
# links TVM artifacts for ARM boards. Debian/Ubuntu; run as root (or through sudo).
set -eu
PACKAGES="openssh-server qemu-user-static g++-aarch64-linux-gnu"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=""
for p in $PACKAGES; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi
