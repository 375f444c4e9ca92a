"""A target file's ``backends`` is checked when the file is read: a backend devbench does not have, or
one the target's device cannot run, is one line naming the file, the line and the field, not an
error row per job after compiling."""

from __future__ import annotations

from pathlib import Path

import pytest

from devbench.targets import load_target_file

TRT_ON_CPU = 'name = "trtlocal"\ntransport = "local"\nbackends = ["onnxruntime_trt"]\n'


@pytest.mark.parametrize(("content", "words"), [
    (TRT_ON_CPU, (":3:", "backends[0]", "onnxruntime_trt does not run on a CPU board", 'device = "cuda"')),
    ('name = "box"\nbackends = ["tvm", "onnxrt"]\n', (":2:", "backends[1]", "unknown backend 'onnxrt'")),
    ('[[target]]\nname = "a"\n\n[[target]]\nname = "b"\nbackends = ["onnxruntime_trt"]\n',
     (":6:", "target[1].backends[0]")),
])
def test_a_backend_the_target_cannot_run_is_refused_when_read(devbench, tmp_path: Path, content: str,
                                                              words: tuple[str, ...]) -> None:
    f = tmp_path / "t.toml"
    f.write_text(content)
    devbench("targets", "--targets-file", f).assert_one_line_error(str(f), *words)
    devbench("run", "--model", "resnet8", "--targets-file", f, "--target", "trtlocal",
             "--rounds", "1").assert_one_line_error(str(f), *words)


def test_a_cuda_target_may_list_a_gpu_backend(tmp_path: Path) -> None:
    f = tmp_path / "t.toml"
    f.write_text(TRT_ON_CPU + 'device = "cuda"\n')
    assert load_target_file(f)[0].backends == ("onnxruntime_trt",)
