"""Rule-driven anonymization of Spark tables into Delta Lake.

The pipeline is load -> validate -> compile -> execute; see the README's architecture section.
"""

from __future__ import annotations

__version__ = "0.1.0"
