import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression

from triage.allocation import Allocator, EffortModel, PriorityScorer, load_config

CFG = load_config()


def test_assist_cheaper_than_manual_and_automate_is_audit():
    m = EffortModel(CFG)
    minutes = m.predict(np.array(["manual", "assist", "automate"]), np.full(3, 2000.0), np.full(3, 12.0),
                        np.full(3, 8.0))
    assert minutes[1] < minutes[0]
    assert minutes[2] == CFG.audit_minutes
    assert minutes[0] == pytest.approx(8 + 6 * 2 + 1.5 * 12 + 0.5 * 8)
    assert m.minutes("manual", 2000, 12, 8) == pytest.approx(minutes[0])


def test_fit_recovers_coefficients_and_matches_sklearn():
    rng = np.random.default_rng(0)
    n = 400
    t = pd.DataFrame({"route": rng.choice(["manual", "assist"], n), "note_words": rng.uniform(300, 4000, n),
                      "n_codes": rng.integers(1, 30, n), "n_categories": rng.integers(1, 20, n)})
    true = {"manual": np.array([10, 5, 2, 1.0]), "assist": np.array([3, 2, 0.5, 0.2])}
    X = np.column_stack([np.ones(n), t.note_words / 1000, t.n_codes, t.n_categories])
    y = np.array([X[i] @ true[r] for i, r in enumerate(t.route)]) + rng.normal(0, 0.5, n)
    model = EffortModel(CFG).fit(t.assign(minutes=y))
    for r in ("manual", "assist"):
        rows = (t.route == r).to_numpy()
        ref = LinearRegression().fit(X[rows, 1:], y[rows])
        assert model.coef_[r][1:] == pytest.approx(ref.coef_, abs=1e-6)  # NNLS == OLS when OLS >= 0
        assert model.coef_[r] == pytest.approx(true[r], abs=0.4)
    assert set(model.fitted_routes_) == {"manual", "assist"}


def test_fit_keeps_prior_for_routes_without_data_and_clips_negative():
    t = pd.DataFrame({"route": ["manual"] * 10, "note_words": np.linspace(0, 5000, 10), "n_codes": 5,
                      "n_categories": 3, "minutes": np.linspace(60, 10, 10)})  # longer notes faster: nonsense
    m = EffortModel(CFG).fit(t)
    assert (m.coef_["manual"] >= 0).all()
    assert m.coef_["assist"] == pytest.approx([CFG.effort_routes["assist"][k] for k in
                                               ("intercept", "per_1000_words", "per_code", "per_category")])
    with pytest.raises(ValueError, match="n_codes"):
        EffortModel(CFG).fit(t.assign(n_codes="x"))
    with pytest.raises(ValueError, match="minutes"):
        EffortModel(CFG).fit(t.drop(columns="minutes"))


def test_priority_terms_move_the_right_way():
    s = PriorityScorer(CFG)
    base = s.score_one(1.0, 5, 2.0, 0.5)
    assert s.score_one(3.0, 5, 2.0, 0.5) > base       # more payment at stake
    assert s.score_one(1.0, 25, 2.0, 0.5) > base      # closer to the billing deadline
    assert s.score_one(1.0, 5, 4.0, 0.5) > base       # more complex
    assert s.score_one(1.0, 5, 2.0, 0.9) > base       # more confident (positive default weight)
    # overdue keeps increasing linearly beyond the deadline
    d = CFG.priority["billing_deadline_days"]
    u = s.urgency(np.array([d, 2 * d, 3 * d]))
    assert u[2] - u[1] > 0 and u[1] - u[0] > 0
    # payment term is weight * base_rate / payment_unit per unit of DRG weight
    p = CFG.priority
    terms = s.terms(np.array([2.0]), np.array([0.0]), np.array([0.0]), np.array([0.0]))
    assert terms["payment"][0] == pytest.approx(p["weights"]["payment"] * 2.0 * p["base_rate"] / p["payment_unit"])


@settings(max_examples=30, deadline=None)
@given(w=st.floats(0, 10), days=st.floats(0, 200), codes=st.integers(0, 60), cats=st.integers(0, 40),
       p=st.floats(0, 1), chapter=st.sampled_from(["I50.9", "C34.90", "O80.", "K35.80", "S72.001A"]),
       drg=st.sampled_from([None, 291, 470, 999]))
def test_scalar_hot_path_matches_table_path(w, days, codes, cats, p, chapter, drg):
    a = ALLOC
    ep = {"episode_id": 1, "route": "assist", "p_correct": p, "principal": chapter, "drg_weight": w,
          "days_since_discharge": days, "n_codes": codes, "n_categories": cats, "drg": drg}
    q, pr = a.queue_and_priority(ep)
    t = a.score([ep])
    assert q == t["queue"].iloc[0]
    assert pr == pytest.approx(t["priority"].iloc[0], rel=1e-9)
    assert pr >= CFG.priority["min_priority"]


ALLOC = Allocator(CFG)


def test_required_level_gates():
    s = PriorityScorer(CFG)
    c = np.array([0.0, CFG.complexity["intermediate_from"], CFG.complexity["senior_from"] + 1])
    assert list(s.required_level(c)) == [1, 2, 3]
