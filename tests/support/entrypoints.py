"""Register a driver kind the way an installed package does: through entry-point metadata."""

from __future__ import annotations

from pathlib import Path


def register_example(root: Path) -> Path:
    """A distribution's metadata declaring the docs' example driver (``tcp-sensor``, module
    ``tcp_sensor`` from docs/examples) under the ``sensor_gateway.drivers`` group, as ``pip
    install`` of a package with that entry point writes it. Put ``root`` on the path."""
    info = root / "tcp_sensor_example-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tcp-sensor-example\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text("[sensor_gateway.drivers]\ntcp-sensor = tcp_sensor\n")
    return root
