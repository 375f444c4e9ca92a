"""devbench: one import name. The top-level folders models/, training/ and targets/ are installed
as devbench.models, devbench.training and devbench.targets, so nothing generic lands in
site-packages."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
MAPPED = {"models": "devbench.models", "training": "devbench.training", "targets": "devbench.targets"}


def packages() -> tuple[list[str], dict[str, str]]:
    pkgs = find_packages(include=["devbench", "devbench.*"])
    package_dir = {"devbench": "devbench"}
    for folder, name in MAPPED.items():
        package_dir[name] = folder
        pkgs.append(name)
        pkgs += [f"{name}.{sub}" for sub in find_packages(where=folder)]
    return pkgs, package_dir


PACKAGES, PACKAGE_DIR = packages()

setup(
    name="devbench",
    version="0.1.0",
    description="Is a pruned network really faster than one built smaller? Benchmark it on your boards.",
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=PACKAGES,
    package_dir=PACKAGE_DIR,
    package_data={
        "devbench.targets": ["*.toml", "README.md"],
        "devbench.models": ["specs/*.json", "specs/*.md", "specs/*.pt"],
        "devbench.experiment": ["recipes/*.toml"],
    },
    install_requires=[
        "torch", "torchvision", "apache-tvm", "apache-tvm-ffi", "numpy", "onnx", "onnxscript", "onnxruntime",
        "paramiko", "pydantic>=2.14,<3", "tomli-w", "tabulate", "tqdm", "matplotlib", "psutil", "cloudpickle",
        "xgboost", "tornado",
    ],
    entry_points={"console_scripts": ["devbench = devbench.cli:main"]},
)
