"""Test helpers shared by OTAS test suites (collector and SDK tests)."""
from .collector import Collector, CollectorError, Response, find_collector_binary, make_event

__all__ = ["Collector", "CollectorError", "Response", "find_collector_binary", "make_event"]
