"""The folders follow the data flow: nothing imports backwards, detectors never see truth."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("firmware_bridge", ("realtime", "dashboard")),
        (
            "realtime",
            (
                "dashboard",
                "firmware_bridge.simulator",
                "firmware_bridge.serial_port",
                "firmware_bridge.decoder",
            ),
        ),
        ("calibration", ("dashboard", "realtime")),
    ],
)
def test_no_backward_imports(package: str, forbidden: tuple[str, ...]) -> None:
    offenders = {
        path: sorted(n for n in names if n.startswith(forbidden))
        for path, names in imported_modules(package).items()
    }
    assert {p: n for p, n in offenders.items() if n} == {}


def test_the_check_sees_imports() -> None:
    assert (
        "firmware_bridge.protocol"
        in imported_modules("firmware_bridge")["firmware_bridge/decoder.py"]
    )
