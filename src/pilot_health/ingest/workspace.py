"""Where an upload's bytes are worked on, and their hash, before anything is read.

Uploads are written to a folder of their own under `UPLOAD_WORK_ROOT` (the only folder besides the
store's a locked-down connection may read), and hashed on a second thread meanwhile.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from pilot_health.ingest.reading import sha256

# Uploads are read from temporary files under this folder only: a locked-down store connection
# (the dashboard's) may read files here and in the store's own folder, nowhere else.
# One folder per user of the machine (its own, 0700): a folder made by one user is not writable by another,
# and another user's processes are not ours to sweep.
UPLOAD_WORK_ROOT = Path(tempfile.gettempdir()) / (
    "pilot-health-uploads" + (f"-{os.getuid()}" if hasattr(os, "getuid") else "")
)


def work_folder() -> Path:
    """A new work folder for one upload, named after this process (upload-<pid>-…), under
    UPLOAD_WORK_ROOT; first the folders of processes that no longer run (killed mid-upload, so
    their own clean-up never ran) are removed."""
    UPLOAD_WORK_ROOT.mkdir(mode=0o700, parents=True, exist_ok=True)
    for old in UPLOAD_WORK_ROOT.glob("upload-*"):
        pid = old.name.split("-")[1]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass  # alive, another user's process
    return Path(tempfile.mkdtemp(prefix=f"upload-{os.getpid()}-", dir=UPLOAD_WORK_ROOT))


def sha256_meanwhile(data: bytes) -> Callable[[], str]:
    """The bytes' SHA-256, hashed on a second thread while the file is read and recognised (the hash
    runs outside Python's lock: 30 ms of a 46 MB file off the command's time on a second CPU).
    Returns a function that waits for it; small files are hashed at once."""
    if len(data) < 1 << 20:
        value = sha256(data)
        return lambda: value
    found: list[str] = []
    worker = threading.Thread(target=lambda: found.append(sha256(data)), name="pilot-health-sha256", daemon=True)
    worker.start()

    def wait() -> str:
        worker.join()
        return found[0] if found else sha256(data)

    return wait
