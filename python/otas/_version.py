"""The one place OTAS's version is written.

pyproject.toml reads it (scikit-build-core's regex provider), CMake reads
it for the engine's and otas-collector's OTAS_VERSION, and
``otas.__version__`` is this value.
"""

__version__ = "0.3.0.dev0"
