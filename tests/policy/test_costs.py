import numpy as np
import pytest

from triage.policy import CostModel


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"manual_cost": -1}, "manual_cost"),
        ({"manual_cost": 0}, "manual_cost"),
        ({"error_cost": float("nan")}, "error_cost"),
        ({"assist_cost": -2}, "assist_cost"),
        ({"unit": "hours"}, "unit"),
        ({"drg_weighted": True, "unit": "money"}, "base_rate"),
        ({"drg_weighted": True, "base_rate": 5000.0}, "unit"),
        ({"capacity": 10}, "period_episodes"),
        ({"capacity": 10, "period_episodes": 0}, "period_episodes"),
    ],
)
def test_validation_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        CostModel(**kwargs)


def test_expected_costs_constant():
    cm = CostModel(manual_cost=10, assist_cost=4, error_cost=40, assist_error_cost=20)
    exp = cm.expected_costs([0.5, 1.0])
    np.testing.assert_allclose(exp["automate"], [20.0, 0.0])
    np.testing.assert_allclose(exp["assist"], [14.0, 4.0])
    np.testing.assert_allclose(exp["manual"], [10.0, 10.0])


def test_drg_weighted_expected_cost_is_one_minus_p_times_payment_at_risk():
    cm = CostModel(manual_cost=50, error_cost=10, unit="money", drg_weighted=True, base_rate=6000)
    gap = np.array([0.0, 0.5, 1.2])
    exp = cm.expected_costs([0.9, 0.9, 0.5], weight_gap=gap)
    np.testing.assert_allclose(exp["automate"], [0.1 * 10, 0.1 * (10 + 3000), 0.5 * (10 + 7200)])
    with pytest.raises(ValueError, match="weight_gap"):
        cm.expected_costs([0.9])
    with pytest.raises(ValueError, match="weight_gap"):
        cm.expected_costs([0.9, 0.8], weight_gap=[-1.0, 0.0])


def test_realised_costs_and_bad_routes():
    cm = CostModel(manual_cost=10, assist_cost=4, error_cost=40, assist_error_cost=20)
    routes = np.array(["automate", "automate", "assist", "assist", "manual"])
    correct = np.array([True, False, True, False, False])
    np.testing.assert_allclose(cm.realised_costs(routes, correct), [0, 40, 4, 24, 10])
    with pytest.raises(ValueError, match="position 1"):
        cm.realised_costs(np.array(["manual", "robot"]), [True, True])
    with pytest.raises(ValueError, match="assist_cost"):
        CostModel().realised_costs(np.array(["assist"]), [True])


def test_capacity_share_and_round_trip():
    cm = CostModel(manual_cost=30, assist_cost=10, capacity=600, period_episodes=1000)
    assert cm.human_capacity_share == pytest.approx(0.6)
    assert cm.assist_load == pytest.approx(1 / 3)
    assert CostModel.from_dict(cm.to_dict()) == cm
    with pytest.raises(ValueError, match="bogus"):
        CostModel.from_dict({**cm.to_dict(), "bogus": 1})


@pytest.mark.parametrize("field", ["assist_cost", "capacity", "error_cost"])
def test_non_numbers_are_rejected_by_name(field):
    kwargs = {field: "ten"}
    if field == "capacity":
        kwargs["period_episodes"] = 100
    with pytest.raises(ValueError, match=field):
        CostModel(**kwargs)
