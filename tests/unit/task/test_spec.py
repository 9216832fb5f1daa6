import numpy as np
import pytest

from m3tr.core.task.spec import TaskSpec, split_observed


def test_split_observed_cuts_at_window_and_counts_at_horizon():
    spec = TaskSpec(obs_window_s=10.0, horizon_s=100.0, event_types=("a", "b"))
    t = np.array([0.0, 5.0, 10.0, 10.5, 50.0, 100.0, 101.0])
    k = np.array([0, 1, 0, 1, 1, 0, 0])
    to, ko, target = split_observed(t, k, spec)
    assert to.tolist() == [0.0, 5.0, 10.0]  # t <= T_obs is observed
    assert ko.tolist() == [0, 1, 0]
    assert target.tolist() == [3, 3]  # t <= H: a at 0, 10, 100; b at 5, 10.5, 50


def test_spec_validation_and_round_trip():
    with pytest.raises(ValueError, match="horizon_s"):
        TaskSpec(obs_window_s=10.0, horizon_s=5.0)
    with pytest.raises(ValueError, match="distinct"):
        TaskSpec(event_types=("a", "a"))
    spec = TaskSpec(0.0, float("inf"), ("comment",))
    assert TaskSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="'x' is not one of"):
        TaskSpec().type_index(np.array(["repost", "x"]))
