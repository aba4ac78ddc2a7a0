"""Replace auditwheel's otas-collector launcher in a repaired wheel.

auditwheel moves the otas-collector executable to otas.scripts/ (so its
RPATH reaches otas.libs/) and writes a launcher that looks for it under
sysconfig's platlib, which is wrong for `pip install --user` and
`--target`.  This launcher finds the binary next to the installed `otas`
package instead (importlib.util.find_spec imports nothing).  RECORD is
rewritten with the new hash.

    python scripts/wheel_launcher.py dist/otas-*.whl
"""

import base64
import hashlib
import os
import sys
import zipfile

LAUNCHER = b'''#!python
"""otas-collector: run the binary this wheel installed beside the otas package."""
import importlib.util
import os
import sys

spec = importlib.util.find_spec("otas")
if spec is None or not spec.submodule_search_locations:
    sys.exit("otas-collector: this Python cannot find the otas package")
exe = os.path.join(os.path.dirname(list(spec.submodule_search_locations)[0]),
                   "otas.scripts", "otas-collector")
os.execv(exe, sys.argv)
'''


def record_hash(data):
    d = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + d.decode()


def fix(path):
    with zipfile.ZipFile(path) as z:
        items = [(i, z.read(i.filename)) for i in z.infolist()]
    names = [i.filename for i, _ in items]
    launcher = [n for n in names if n.endswith(".data/scripts/otas-collector")]
    binary = "otas.scripts/otas-collector"
    if len(launcher) != 1 or binary not in names:
        sys.exit(f"{path}: no auditwheel otas-collector launcher to replace")
    record = next(n for n in names if n.endswith(".dist-info/RECORD"))
    out = []
    for info, data in items:
        if info.filename == launcher[0]:
            data = LAUNCHER
        elif info.filename == record:
            lines = []
            for line in data.decode().splitlines():
                if line.startswith(launcher[0] + ","):
                    line = f"{launcher[0]},{record_hash(LAUNCHER)},{len(LAUNCHER)}"
                lines.append(line)
            data = ("\n".join(lines) + "\n").encode()
        out.append((info, data))
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in out:
            z.writestr(info, data)
    os.replace(tmp, path)
    print(f"{os.path.basename(path)}: otas-collector launcher finds otas.scripts/ beside otas")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        fix(p)
