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


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def small_reports(tmp_path_factory):
    """The small trial run on `small_trial_rows` twice: with exact counts and as shared with
    the default protection. {"exact" | "shared": (report, report folder)}."""
    from feasibility.run import run_feasibility
    from tests.support import REPO, small_trial_rows, write_extract

    tmp = tmp_path_factory.mktemp("small")
    extract = write_extract(small_trial_rows(), tmp / "x.parquet")
    trial = REPO / "tests/fixtures/trials/small.yaml"
    exact = run_feasibility(str(extract), [trial], out=tmp / "exact", min_cell=0, active_within=None)
    shared = run_feasibility(str(extract), [trial], out=tmp / "shared", active_within=None)
    return {"exact": (exact, tmp / "exact"), "shared": (shared, tmp / "shared")}
