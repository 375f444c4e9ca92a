import pytest

from devbench.errors import DevbenchError
from devbench.targets import get_target, load_target_file


def test_local_target_resolves_to_a_tvm_dict():
    t = get_target("local")
    d = t.tvm_target_dict()
    assert d["kind"] == "llvm" and d.get("mcpu") != "auto" and t.threads >= 1


def test_unknown_target_lists_known(tmp_path):
    with pytest.raises(DevbenchError, match="known targets: .*local"):
        get_target("nope")


def test_malformed_toml_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\ntransport = \n')
    with pytest.raises(DevbenchError, match=r"bad\.toml.*line 2"):
        load_target_file(bad)


def test_string_tvm_target_is_rejected(tmp_path):
    f = tmp_path / "t.toml"
    f.write_text('name = "t"\n[tvm]\ntarget = "llvm -mcpu=znver5"\n')
    with pytest.raises(DevbenchError, match="rejects target strings"):
        load_target_file(f)


def test_user_file_adds_target(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text('name = "mine"\nthreads = 1\n[tvm]\ntarget = {kind = "llvm"}\n')
    assert get_target("mine", [f]).threads == 1
    assert get_target("mine", [f], threads=3).threads == 3


def test_unknown_field_is_an_error_not_ignored(tmp_path):
    f = tmp_path / "typo.toml"
    f.write_text('name = "t"\nthread = 4\n[tvm]\ntarget = {kind = "llvm"}\n')
    with pytest.raises(DevbenchError, match=r"typo\.toml:2: unknown field thread"):
        load_target_file(f)


def test_measure_defaults_come_from_the_target_and_the_command_line_wins(tmp_path):
    from devbench.bench import DEFAULT_MEASURE, MeasureSettings, settings_for

    f = tmp_path / "slow.toml"
    f.write_text('name = "slow"\n[tvm]\ntarget = {kind = "llvm"}\n[measure]\nrepeats = 3\nwarmup = 1\n')
    t = get_target("slow", [f])
    s = settings_for(t, MeasureSettings())
    assert (s.warmup, s.repeats, s.min_time_s, s.rounds) == (1, 3, DEFAULT_MEASURE["min_time_s"],
                                                          DEFAULT_MEASURE["rounds"])
    assert settings_for(t, MeasureSettings(repeats=7)).repeats == 7
    assert settings_for(get_target("local"), MeasureSettings()).repeats == DEFAULT_MEASURE["repeats"]
