"""Packaging: one version everywhere, and a source build on a machine
without the libraries fails with ONE error that lists them all with the
apt-get and dnf lines that install them."""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

def _version_file():
    text = (REPO / "python/otas/_version.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)

def test_one_version_everywhere():
    import otas
    from otas import _engine

    v = _version_file()
    assert otas.__version__ == v
    assert _engine.VERSION == v
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" in meta["project"]["dynamic"]
    assert "version" not in meta["project"]
    collector = shutil.which("otas-collector") or str(Path(sys.executable).with_name("otas-collector"))
    out = subprocess.run([collector, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"otas-collector {v}"

def test_package_metadata():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert meta["license"] == "Apache-2.0"
    assert "Apache License" in (REPO / "LICENSE").read_text()[:200]
    assert meta["requires-python"] == ">=3.11"
    assert any(c.startswith("Framework :: Django") for c in meta["classifiers"])
    assert f"## {'.'.join(_version_file().split('.')[:3])}" in (REPO / "CHANGELOG.md").read_text()
    sk = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["scikit-build"]
    assert sk["wheel"]["py-api"] == "cp311"

def test_missing_libraries_are_one_error_with_the_install_lines(tmp_path):
    env = dict(os.environ, PKG_CONFIG_LIBDIR=str(tmp_path / "none"),
               PKG_CONFIG_PATH="")
    p = subprocess.run(["cmake", "-S", str(REPO), "-B", str(tmp_path / "b"),
                        "-DOTAS_BUILD_TESTS=OFF"], env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode != 0
    err = p.stderr
    assert err.count("CMake Error") == 1, err
    for lib in ("libcurl", "sqlite3", "zlib", "libzstd", "jansson", "libcrypto", "libmicrohttpd",
                "libpq"):
        assert f"- {lib}" in err, (lib, err)
    apt = re.search(r"apt-get install (.+)", err).group(1).split()
    dnf = re.search(r"dnf install (.+)", err).group(1).split()
    assert {"libcurl4-openssl-dev", "libsqlite3-dev", "zlib1g-dev", "libzstd-dev", "libjansson-dev",
            "libssl-dev", "libmicrohttpd-dev", "libpq-dev"} <= set(apt)
    assert {"libcurl-devel", "sqlite-devel", "zlib-devel", "libzstd-devel", "jansson-devel",
            "openssl-devel", "libmicrohttpd-devel", "libpq-devel"} <= set(dnf)
