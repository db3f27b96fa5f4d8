"""The system packages the stack needs (Java 17+, Maven, PostgreSQL), found or installed with apt.

A bare Debian machine with only Python is enough: as root, what is missing is installed with apt-get (a
progress line per step, with its time); otherwise, or without apt, the error says exactly what is missing
and the command that installs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from stack.progress import step

JAVA_MAJOR_MIN = 17
# In order of preference: Debian 12 ships 17, later releases 21; default-jre-headless follows the release.
JAVA_PACKAGES = ("openjdk-17-jre-headless", "openjdk-21-jre-headless", "default-jre-headless")
MAVEN_PACKAGE = "maven"
APT_TIMEOUT_S = 900.0
VERSION_TIMEOUT_S = 30.0
JAVA_VERSION = re.compile(r'version "(?P<major>\d+)(?:\.(?P<minor>\d+))?')


class PrerequisiteError(RuntimeError):
    """A needed program is missing (or too old) and cannot be installed here; the message says how to."""


def java() -> str:
    """The ``java`` to run Kafka with (``$JAVA_HOME/bin/java``, else PATH), installing one when missing."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if not candidate.exists():
            raise PrerequisiteError(f"JAVA_HOME is {java_home}, but {candidate} does not exist")
        _check_java_version(str(candidate))
        return str(candidate)
    found = shutil.which("java")
    if found is not None and java_major(found) >= JAVA_MAJOR_MIN:
        return found
    why = "java is not on PATH" if found is None else f"{found} is Java {java_major(found)}"
    apt_install(
        [_java_package()],
        f"{why}; Kafka needs Java {JAVA_MAJOR_MIN}+",
        manual="apt-get install -y openjdk-17-jre-headless (or any Java 17+ runtime, with JAVA_HOME set)",
    )
    found = shutil.which("java")
    if found is None or java_major(found) < JAVA_MAJOR_MIN:
        raise PrerequisiteError(f"apt-get installed {_java_package()}, but no Java {JAVA_MAJOR_MIN}+ is on PATH")
    return found


def maven() -> str:
    """The ``mvn`` that resolves Kafka's jars from Maven Central, installing Maven when missing."""
    found = shutil.which("mvn")
    if found is not None:
        return found
    apt_install([MAVEN_PACKAGE], "mvn is not on PATH; it fetches Kafka", manual="apt-get install -y maven")
    found = shutil.which("mvn")
    if found is None:
        raise PrerequisiteError("apt-get installed maven, but mvn is still not on PATH")
    return found


def java_major(java_path: str) -> int:
    """The major version ``java -version`` reports (``1.8`` is 8), or 0 when it cannot be read."""
    try:
        result = subprocess.run(
            [java_path, "-version"], capture_output=True, text=True, timeout=VERSION_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return 0
    match = JAVA_VERSION.search(result.stderr + result.stdout)
    if match is None:
        return 0
    major = int(match["major"])
    return int(match["minor"] or 0) if major == 1 else major


def apt_install(packages: Sequence[str], why: str, *, manual: str) -> None:
    """Install Debian packages as root with apt-get, one progress line per step; else say what to run."""
    apt_get = shutil.which("apt-get")
    if os.geteuid() != 0 or apt_get is None:
        reason = "we are not root" if os.geteuid() != 0 else "apt-get is not available"
        raise PrerequisiteError(f"{why}, and {reason} to install it: run `sudo {manual}`")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = (
        ("apt-get update (package lists)", [apt_get, "update"]),
        (
            f"apt-get install {' '.join(packages)} ({why})",
            [apt_get, "install", "-y", "--no-install-recommends", *packages],
        ),
    )
    for what, command in steps:
        with step(what):
            result = subprocess.run(
                command, env=environment, capture_output=True, text=True, timeout=APT_TIMEOUT_S, check=False
            )
            if result.returncode != 0:
                raise PrerequisiteError(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}{result.stderr}")


def _java_package() -> str:
    """The first Java package apt can install here (a candidate in its lists), else default-jre-headless.

    Without package lists yet (a fresh machine) nothing has a candidate; Debian's default runtime is 17 or
    later from Debian 12 on, and the version is checked after the install anyway.
    """
    apt_cache = shutil.which("apt-cache")
    for package in JAVA_PACKAGES:
        if apt_cache is None:
            break
        result = subprocess.run(
            [apt_cache, "policy", package], capture_output=True, text=True, timeout=VERSION_TIMEOUT_S, check=False
        )
        if "Candidate:" in result.stdout and "Candidate: (none)" not in result.stdout:
            return package
    return JAVA_PACKAGES[-1]


def _check_java_version(java_path: str) -> None:
    major = java_major(java_path)
    if major < JAVA_MAJOR_MIN:
        raise PrerequisiteError(f"{java_path} is Java {major or 'of unknown version'}; Kafka needs {JAVA_MAJOR_MIN}+")
