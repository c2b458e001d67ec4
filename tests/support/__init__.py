"""What several test modules share (imported, never collected): random valid streams and the
core-vs-reference comparison, the hand-checked trace runner, a synthetic results folder."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout
HELPERS = ROOT / "tests" / "helpers"  # programs the recorder tests run
