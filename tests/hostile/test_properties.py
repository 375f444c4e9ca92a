"""Property-based: whatever a spec or target file holds, it parses or is a :class:`DevbenchError`;
never another exception (a traceback where the README promises one line)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devbench.errors import DevbenchError
from devbench.models import ArchSpec, count_params, wrn_spec
from devbench.targets import load_target_file, target_from_dict

# no example database: the suite writes nothing outside its temporary directories
PROPERTY = settings(max_examples=300, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(-(10**30), 10**30) | st.floats()
           | st.text(max_size=20))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8),
                                                                                          inner, max_size=5),
                      max_leaves=30)


def _mutated(base: dict, keys: list[str]) -> st.SearchStrategy[dict]:
    """``base`` with some fields replaced by anything, some removed, and maybe an unknown one added."""
    return st.builds(
        lambda changes, drop, extra: {**{k: v for k, v in base.items() if k not in drop}, **changes, **extra},
        st.dictionaries(st.sampled_from(keys), VALUES, max_size=3),
        st.sets(st.sampled_from(keys), max_size=2),
        st.dictionaries(st.text(max_size=6), VALUES, max_size=1),
    )


SPEC = wrn_spec(10, 1).to_dict()
SPEC_KEYS = [*SPEC, "growth", "compression", "meta"]


@PROPERTY
@given(d=_mutated(SPEC, SPEC_KEYS) | VALUES)
def test_any_spec_dict_parses_or_is_a_devbench_error(d) -> None:
    try:
        spec = ArchSpec.from_dict(d, source="x.json")
    except DevbenchError as e:
        assert "\n" not in str(e)
        return
    assert ArchSpec.from_dict(spec.to_dict()) == spec
    try:
        count_params(spec)  # a family's own layout checks (stage count, depth) are user errors too
    except DevbenchError:
        pass


@PROPERTY
@given(text=st.text(max_size=300) | st.sampled_from(["[" * 3000, '{"inner": ' + "[" * 3000]))
def test_any_spec_file_parses_or_is_a_devbench_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        ArchSpec.load(path)
    except DevbenchError as e:
        assert "\n" not in str(e)


SSH_TARGET = {"name": "pi", "transport": "ssh", "threads": 4, "backends": ["tvm"], "emulated": False,
              "ssh": {"host": "pi", "port": 22, "password": False}, "measure": {"repeats": 3, "rounds": 2},
              "tvm": {"target": {"kind": "llvm"}, "cross_compiler": "g++"}}
TARGET_KEYS = [*SSH_TARGET, "description", "device", "rpc"]


@PROPERTY
@given(d=_mutated(SSH_TARGET, TARGET_KEYS) | st.builds(
    lambda ssh: {**SSH_TARGET, "ssh": ssh}, _mutated(SSH_TARGET["ssh"], ["host", "port", "user", "password",
                                                                         "connect_timeout_s", "workdir"])
) | VALUES)
def test_any_target_table_parses_or_is_a_devbench_error(d) -> None:
    try:
        target = target_from_dict(d, "t.toml")
    except DevbenchError as e:
        assert "\n" not in str(e)
        return
    assert 1 <= target.threads <= 1024 and isinstance(target.emulated, bool)
    assert target.ssh is None or target.ssh.port is None or 1 <= target.ssh.port <= 65535


@PROPERTY
@given(text=st.text(max_size=300) | st.builds(lambda k, v: f'name = "x"\n{k} = {v}\n',
                                                st.sampled_from(TARGET_KEYS), st.text(max_size=20)))
def test_any_target_file_parses_or_is_a_devbench_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "t.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_target_file(path)
    except DevbenchError as e:
        assert "\n" not in str(e)
