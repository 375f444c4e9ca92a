"""Native code's writes to fd 2 (TVM's C++ warnings) go through logging: hidden by default, shown with -v."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import logging, os, sys
    from devbench.cli import configure_output
    from devbench.native_log import native_stderr

    configure_output(verbose=int(sys.argv[1]), quiet=0)
    with native_stderr():
        # what TVM's LOG(WARNING) writes (std::cerr is fd 2, below Python), and an LLVM-style bare line
        os.write(2, b'[12:00:00] /src/space_generator.cc:81: Warning: Unknown schedule rule '
                    b'"meta_schedule.pool_avg"\\n')
        os.write(2, b'llvm: a note from native code\\n')
        logging.getLogger("devbench.tune").info("tune: progress line")  # Python's own: on time, not captured
        print("python stderr line", file=sys.stderr)
        with native_stderr():  # nested: captured once, by the outer block
            os.write(2, b'[12:00:01] /src/x.cc:1: Warning: nested\\n')
    print("done")
""")


def _run(verbose: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", SCRIPT, str(verbose)], capture_output=True, text=True, timeout=60)


def test_native_warnings_are_hidden_without_verbose() -> None:
    r = _run(0)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "done\n"
    assert "Unknown schedule rule" not in r.stderr and "llvm:" not in r.stderr and "nested" not in r.stderr
    assert "devbench.tune: tune: progress line" in r.stderr and "python stderr line" in r.stderr


@pytest.mark.parametrize("verbose", [1, 2])
def test_native_warnings_are_logged_with_verbose(verbose: int) -> None:
    r = _run(verbose)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert 'tvm.native: [12:00:00] /src/space_generator.cc:81: Warning: Unknown schedule rule ' \
           '"meta_schedule.pool_avg"' in lines
    assert "tvm.native: llvm: a note from native code" in lines
    assert sum("nested" in line for line in lines) == 1
    # Python's lines came out as they were written, before the captured native ones
    assert lines.index("python stderr line") < lines.index("tvm.native: llvm: a note from native code")


def test_levels_follow_tvms_words(caplog: pytest.LogCaptureFixture) -> None:
    from devbench.native_log import emit

    with caplog.at_level("DEBUG", logger="tvm.native"):
        emit("[01:02:03] a.cc:1: Debug: d\n[01:02:03] a.cc:2: i\n[01:02:03] a.cc:3: Warning: w\n"
             "[01:02:03] a.cc:4: Error: e\nbare\n\n")
    assert [r.levelname for r in caplog.records] == ["DEBUG", "INFO", "WARNING", "ERROR", "WARNING"]


def test_a_handler_made_inside_the_block_writes_to_stderr_after_it() -> None:
    """A library that sets up logging inside the block (MetaSchedule does, while tuning) takes the
    block's sys.stderr; once the block is over that handler writes to the real stderr again, not to
    a closed stream ("--- Logging error ---" and the native lines lost)."""
    script = textwrap.dedent("""
        import logging, os
        from devbench.native_log import native_stderr

        with native_stderr():
            logging.basicConfig(format="%(name)s: %(message)s")  # its handler takes sys.stderr now
            os.write(2, b'[12:00:00] /src/x.cc:1: Warning: from native code\\n')
        logging.getLogger("after").warning("after the block")
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Logging error" not in r.stderr
    assert "tvm.native: [12:00:00] /src/x.cc:1: Warning: from native code" in r.stderr
    assert "after: after the block" in r.stderr
