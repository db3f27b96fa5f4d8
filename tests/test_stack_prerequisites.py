"""A bare machine: a missing or too old Java, or a missing Maven, is named clearly, or installed with apt.

Nothing is uninstalled: each case runs `stack.prerequisites` in a subprocess whose PATH holds only what the
case needs (nothing, an old `java`, or stand-ins for `apt-get` and `apt-cache` that record their arguments
and "install" by writing a `java` or `mvn` script).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stack.progress import step
from tests.services import ROOT

ROOT_USER = os.geteuid() == 0
DONE_LINE = re.compile(r"^stack: (?P<what>.+): done in \d+\.\ds$")


def write_script(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def run_prerequisite(function: str, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    """`stack.prerequisites.<function>()` with PATH = bin_dir only and no JAVA_HOME; prints what it found."""
    environment = {name: value for name, value in os.environ.items() if name not in {"JAVA_HOME", "PATH"}}
    return subprocess.run(
        [sys.executable, "-c", f"from stack import prerequisites; print(prerequisites.{function}())"],
        cwd=ROOT,
        env={**environment, "PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_missing_java_without_apt_names_what_is_missing_and_how_to_install_it(tmp_path: Path) -> None:
    result = run_prerequisite("java", tmp_path)
    assert result.returncode != 0
    assert "PrerequisiteError: java is not on PATH; Kafka needs Java 17+, and " in result.stderr
    reason = "apt-get is not available" if ROOT_USER else "we are not root"
    assert f"{reason} to install it: run `sudo apt-get install -y openjdk-17-jre-headless" in result.stderr


def test_a_java_older_than_17_counts_as_missing(tmp_path: Path) -> None:
    write_script(tmp_path / "java", """echo 'openjdk version "11.0.22" 2024-01-16' >&2""")
    result = run_prerequisite("java", tmp_path)
    assert result.returncode != 0
    assert f"{tmp_path / 'java'} is Java 11; Kafka needs Java 17+" in result.stderr


def test_a_missing_maven_without_apt_says_so(tmp_path: Path) -> None:
    result = run_prerequisite("maven", tmp_path)
    assert result.returncode != 0
    assert "mvn is not on PATH; it fetches Kafka, and" in result.stderr
    assert "run `sudo apt-get install -y maven`" in result.stderr


@pytest.mark.parametrize(
    ("function", "program", "package", "installed"),
    [
        ("java", "java", "openjdk-17-jre-headless", """echo 'openjdk version "17.0.15" 2025-04-15' >&2"""),
        ("maven", "mvn", "maven", "echo 'Apache Maven 3.8.7'"),
    ],
)
def test_as_root_apt_installs_what_is_missing_with_a_timed_line_per_step(
    tmp_path: Path, function: str, program: str, package: str, installed: str
) -> None:
    calls = tmp_path / "apt-calls.log"
    target = tmp_path / program
    # apt-get stand-in: records its arguments; `install` puts the program in place, as the real package would.
    payload = tmp_path.parent / f"{program}.payload"
    write_script(payload, installed)
    write_script(
        tmp_path / "apt-get",
        f'echo "apt-get $*" >> {calls}\ncase "$1" in install) /bin/cp -p {payload} {target};; esac',
    )
    write_script(tmp_path / "apt-cache", 'echo "$2:"; echo "  Candidate: 1.0"')
    result = run_prerequisite(function, tmp_path)
    if not ROOT_USER:
        assert result.returncode != 0
        assert "we are not root" in result.stderr
        return
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(target)
    assert calls.read_text().splitlines() == [
        "apt-get update",
        f"apt-get install -y --no-install-recommends {package}",
    ]
    lines = result.stderr.splitlines()
    done = [match["what"] for match in map(DONE_LINE.match, lines) if match]
    assert done[0] == "apt-get update (package lists)"
    assert done[1].startswith(f"apt-get install {package} (")
    assert lines.index(f"stack: {done[1]} ...") < lines.index(
        next(line for line in lines if done[1] in line and "done" in line)
    )


def test_a_step_prints_what_it_does_then_its_time_or_its_failure() -> None:
    out = io.StringIO()
    with step("resolving something slow", out):
        pass
    with pytest.raises(RuntimeError), step("a step that breaks", out):
        raise RuntimeError("broken")
    lines = out.getvalue().splitlines()
    assert lines[0] == "stack: resolving something slow ..."
    assert DONE_LINE.match(lines[1])
    assert lines[2] == "stack: a step that breaks ..."
    assert re.fullmatch(r"stack: a step that breaks: failed after \d+\.\ds", lines[3])
