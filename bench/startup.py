"""Start-up time of the command line against bare `python -c "import click"`, measured in the same run."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _time(args: list[str], runs: int, cwd: str) -> float:
    """Median wall-clock seconds of `runs` runs of a fresh interpreter (the first run warms the file cache)."""
    subprocess.run(args, capture_output=True, cwd=cwd, check=False)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(args, capture_output=True, cwd=cwd, check=False)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    py = sys.executable
    with tempfile.TemporaryDirectory() as empty:
        config = Path(empty) / "config"
        config.mkdir()
        (config / "settings.toml").write_text(f'data_dir = "{Path(empty) / "data"}"\n', encoding="utf-8")
        baseline = _time([py, "-c", "import click"], runs, empty)
        cases = {
            "aggregator --help": [py, "-m", "aggregator", "--help"],
            "aggregator --version": [py, "-m", "aggregator", "--version"],
            "aggregator no-such-command": [py, "-m", "aggregator", "no-such-command"],
            "aggregator search --help": [py, "-m", "aggregator", "search", "--help"],
            "aggregator search x (empty db)": [py, "-m", "aggregator", "--config", str(config), "search", "x"],
        }
        print(f"baseline  python -c 'import click'      {baseline * 1000:7.0f} ms")
        for name, args in cases.items():
            took = _time(args, runs, empty)
            print(f"{name:<40} {took * 1000:7.0f} ms  {took / baseline:5.2f}x the baseline")


if __name__ == "__main__":
    main()
