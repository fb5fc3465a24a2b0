"""The environment `make run` hands its processes: scripts/dev-run, with its tools stubbed.

dev-run is copied into a checkout of its own under tmp_path, whose .venv/bin holds a
`clerk-mirror` that does nothing and a `honcho` that writes down the environment it was
given; so the secrets dev-run makes land in that checkout's .data/, never in ours.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
STUBS = {
    "clerk-mirror": "#!/bin/sh\nexit 0\n",
    "honcho": '#!/bin/sh\nexec env -0 > "$(dirname "$0")/honcho.env"\n',
}


def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "dev-run", root / "scripts" / "dev-run")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, text in STUBS.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)
    return root


def environment(root: Path, **env: str) -> dict[str, str]:
    """Run dev-run in that checkout; the environment its honcho was started with."""
    done = subprocess.run(
        ["bash", str(root / "scripts" / "dev-run")],
        env={"PATH": os.environ["PATH"], "HOME": str(root), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    raw = (root / ".venv" / "bin" / "honcho.env").read_text()
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)
