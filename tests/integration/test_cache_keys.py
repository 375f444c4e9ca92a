"""The artifact cache key: it must change with anything that changes the compiled file, and only then."""

from __future__ import annotations

from dataclasses import replace

import pytest

from devbench.backends import CompileRequest
from devbench.bench import load_model
from devbench.cache import artifact_key
from devbench.targets import get_target


def _request(model, target, batch: int = 1) -> CompileRequest:
    return CompileRequest(spec=model.spec, module=model.module, target=target, batch=batch)


@pytest.mark.usefixtures("fresh_cache")  # the TVM key includes the (here empty) tuning database
def test_cache_key_follows_weights_target_and_batch() -> None:
    a, a_again, b = load_model("resnet8", seed=0), load_model("resnet8", seed=0), load_model("resnet8", seed=1)
    assert a.weights_digest == a_again.weights_digest != b.weights_digest
    local, pi4 = get_target("local"), get_target("pi4")

    key = artifact_key("tvm", _request(a, local), a.weights_digest)
    assert artifact_key("tvm", _request(a_again, local), a_again.weights_digest) == key
    assert artifact_key("tvm", _request(b, local), b.weights_digest) != key
    assert artifact_key("tvm", _request(a, pi4), a.weights_digest) != key
    assert artifact_key("tvm", _request(a, local, batch=2), a.weights_digest) != key
    # the board's description does not change the code: two boards of one CPU share the file
    assert artifact_key("tvm", _request(a, replace(local, description="x")), a.weights_digest) == key
    # threads do: TVM sizes its parallel loops by num-cores
    assert artifact_key("tvm", _request(a, replace(local, threads=1)), a.weights_digest) != \
        artifact_key("tvm", _request(a, replace(local, threads=2)), a.weights_digest)
    assert artifact_key("onnxruntime", _request(a, local), a.weights_digest) != key

    # an ONNX or torch.export file is target-independent: the key ignores the target
    for backend in ("onnxruntime", "torch"):
        assert artifact_key(backend, _request(a, local), a.weights_digest) == \
            artifact_key(backend, _request(a, pi4), a.weights_digest)
