"""The media commands are tools of their own: they run without the server's secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def test_analyze_media_runs_without_secret_key_or_key_ring(tmp_path):
    image = tmp_path / "grey.png"
    cv2.imwrite(str(image), np.full((120, 160, 3), 128, np.uint8))
    env = {k: v for k, v in os.environ.items()
           if k not in {"SECRET_KEY", "PROCTOR_KEYRING", "DEBUG"}}
    result = subprocess.run(  # noqa: S603  (fixed argv, our own manage.py)
        [sys.executable, "manage.py", "analyze_media", str(image), "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert (row["width"], row["height"], row["faces"]) == (160, 120, [])
