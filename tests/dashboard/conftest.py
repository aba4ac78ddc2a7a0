"""Fixtures for the dashboard browser test: the tests/ directory on sys.path
so that ``otas_testing`` (the real-collector fixture module) imports."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
