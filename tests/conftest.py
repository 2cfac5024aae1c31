import sys
from pathlib import Path

# tests import their helpers as `tests.support`
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, settings

# CI runs a modest, fixed (derandomised) set of examples, so a submission's result does not
# depend on luck; `pytest --hypothesis-profile=thorough` explores many more, at random.
settings.register_profile(
    "ci", max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci")
