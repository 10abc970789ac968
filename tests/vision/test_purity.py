"""monitoring.vision stays free of Django: pure functions on bytes and arrays."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_privacy_core_imports_without_django():
    modules = ["errors", "images", "decode", "detect", "anonymize", "tracking", "pipeline"]
    code = (
        "import sys\n"
        + "".join(f"import monitoring.vision.{name}\n" for name in modules)
        + "assert not [m for m in sys.modules if m.split('.')[0] == 'django'], 'django imported'\n"
    )
    completed = subprocess.run(  # noqa: S603 - our interpreter, our fixed code
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True,
        text=True, timeout=120, env={"PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
