"""Stopping the servers tests start as child processes."""

from __future__ import annotations

import subprocess


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM (a graceful shutdown for gunicorn and node), then SIGKILL if it has not ended
    within ``timeout`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
