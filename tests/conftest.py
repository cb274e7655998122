from pathlib import Path

from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])


def pytest_configure(config):
    # quick by default; `pytest --hypothesis-profile=ci` runs the thorough profile
    settings.load_profile(config.getoption("hypothesis_profile", None) or "default")

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURES = ROOT / "architectures"
REFERENCE = ROOT / "tests" / "data" / "reference"  # published figures, copied here (see its README)


def structure(obj):
    """An IR dump without source positions: formatting moves text around, never meaning."""
    if isinstance(obj, dict):
        return {k: structure(v) for k, v in obj.items() if k != "span"}
    if isinstance(obj, (list, tuple)):
        return [structure(v) for v in obj]
    return obj
