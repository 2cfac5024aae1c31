import sys
from pathlib import Path

# tests import their helpers as `tests.support`
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, settings

# CI runs a modest number of examples; `pytest --hypothesis-profile=thorough` runs many more.
settings.register_profile("ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "thorough", max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci")
