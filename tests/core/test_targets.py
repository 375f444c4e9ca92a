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


SSH_TARGET = 'name = "pi"\ntransport = "ssh"\nthreads = 4\n[ssh]\nhost = "pi"\n'


@pytest.mark.parametrize("text, words", [
    (SSH_TARGET + 'port = 70000\n', "t.toml:6: ssh.port: should be less than or equal to 65535, got 70000"),
    (SSH_TARGET + 'prot = 22\n', "t.toml:6: unknown field ssh.prot"),
    (SSH_TARGET.replace("threads = 4\n", 'threads = 4\nemulated = "no"\n'),
     "t.toml:4: emulated: should be a valid boolean, got 'no'"),
    (SSH_TARGET.replace("threads = 4\n", 'threads = 4\nbackends = "onnxruntime"\n'),
     "t.toml:4: backends: should be a valid list"),
    (SSH_TARGET.replace("threads = 4", "threads = 5000"), "t.toml:3: threads: should be less than or equal to 1024"),
    (SSH_TARGET.replace('name = "pi"', "name = 3"), "t.toml:1: name: should be a valid string, got 3"),
    (SSH_TARGET.replace("threads = 4", "threads = 0"), "threads = 0 (all cores) is for local targets"),
    (SSH_TARGET.replace('host = "pi"\n', ""), "t.toml:4: ssh.host is required"),
])
def test_target_fields_are_type_checked_with_file_field_and_line(tmp_path, text, words):
    f = tmp_path / "t.toml"
    f.write_text(text)
    with pytest.raises(DevbenchError) as e:
        load_target_file(f)
    assert words in str(e.value) and str(f) in str(e.value) and "\n" not in str(e.value)


def test_second_of_several_targets_is_named_by_index_and_line(tmp_path):
    f = tmp_path / "farm.toml"
    f.write_text('[[target]]\nname = "a"\n\n[[target]]\nname = "b"\n[target.measure]\nrounds = 0\n')
    with pytest.raises(DevbenchError, match=r"farm\.toml:7: target\[1\]\.measure\.rounds: should be greater"):
        load_target_file(f)


def test_measure_table_takes_rounds_and_max_time(tmp_path):
    f = tmp_path / "m.toml"
    f.write_text('name = "m"\n[measure]\nrounds = 5\nmax_time_s = 2.5\nmin_time_s = 0\n')
    (t,) = load_target_file(f)
    assert t.measure == {"rounds": 5, "max_time_s": 2.5, "min_time_s": 0.0}


def test_a_name_defined_twice_in_one_layer_is_an_error_a_later_layer_overrides(tmp_path, monkeypatch):
    """Two user files naming one target: which a run got hung on the order of file names."""
    mine = tmp_path / "mine"
    mine.mkdir()
    monkeypatch.setenv("DEVBENCH_TARGETS_DIR", str(mine))
    for name, threads in (("a", 1), ("b", 2)):
        (mine / f"{name}.toml").write_text(f'name = "myloc"\nthreads = {threads}\n[tvm]\ntarget = {{kind = "llvm"}}\n')
    with pytest.raises(DevbenchError, match=r"target 'myloc' is defined in both .*a\.toml and .*b\.toml"):
        get_target("local")
    (mine / "b.toml").unlink()
    farm = tmp_path / "farm.toml"
    farm.write_text('[[target]]\nname = "myloc"\nthreads = 3\n[target.tvm]\ntarget = {kind = "llvm"}\n')
    assert get_target("myloc").threads == 1 and get_target("myloc", [farm]).threads == 3
    farm.write_text(farm.read_text() * 2)
    with pytest.raises(DevbenchError, match=r"'myloc' is defined twice in .*farm\.toml"):
        get_target("myloc", [farm])
