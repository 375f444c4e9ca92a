"""Boards devbench can bring up on this machine: today one, an emulated aarch64 Raspberry Pi.

``devbench board emulate`` builds (once, cached) an aarch64 root filesystem with Python, numpy and
the TVM runtime, and serves it through an OpenSSH sshd on loopback, so the ``emulated-pi`` target
exercises cross-compilation and SSH deployment exactly as a real Pi would.
"""
