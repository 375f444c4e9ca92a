"""What pyproject.toml cannot say declaratively: devbench is one import name, and the top-level
folders models/, training/ and targets/ are installed as its subpackages devbench.models,
devbench.training and devbench.targets, so nothing generic lands in site-packages. Subpackages are
found, not listed, so a new one needs no edit. Metadata, dependencies and package data are in
pyproject.toml."""

from setuptools import find_packages, setup

MAPPED = {"models": "devbench.models", "training": "devbench.training", "targets": "devbench.targets"}


def packages() -> tuple[list[str], dict[str, str]]:
    """Every package under its import name, and the folder of each one that is not where its name says."""
    pkgs = find_packages(include=["devbench", "devbench.*"])
    package_dir = {"devbench": "devbench"}
    for folder, name in MAPPED.items():
        package_dir[name] = folder
        pkgs += [name, *(f"{name}.{sub}" for sub in find_packages(where=folder))]
    return pkgs, package_dir


PACKAGES, PACKAGE_DIR = packages()
setup(packages=PACKAGES, package_dir=PACKAGE_DIR)
