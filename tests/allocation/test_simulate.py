import numpy as np
import pandas as pd
import pytest

from triage.allocation import (
    Allocator,
    PolicyFileError,
    SimulatedRouting,
    compare_policies,
    example_roster,
    load_config,
    simulate_backlog,
    synthetic_arrivals,
)

ALLOC = Allocator(load_config())
ROSTER = example_roster(9, hours=6.0, seed=1)


def check_invariants(res, arrivals):
    ep = res.episodes
    assert ep.episode_id.is_unique and set(ep.episode_id) == set(arrivals.episode_id)   # none lost/duplicated
    d = res.daily
    assert d.arrivals.sum() == len(ep)
    # flow balance every day: start = previous end + human arrivals; end = start - coded
    prev = np.r_[0, d.backlog_end.to_numpy()[:-1]]
    assert (d.backlog_start.to_numpy() == prev + (d.arrivals - d.automated).to_numpy()).all()
    assert (d.backlog_end == d.backlog_start - d.coded).all()
    assert d.coded.sum() == (ep.status == "coded").sum()
    assert d.automated.sum() == (ep.status == "automated").sum()
    assert d.backlog_end.iloc[-1] == (ep.status == "backlog").sum()
    coded = ep[ep.status == "coded"]
    assert (coded.completed_day >= coded.arrival_day).all() and (coded.wait_days >= 0).all()
    assert (ep[ep.status != "coded"].completed_day == -1).all()
    assert (ep[ep.status == "automated"].route == "automate").all()
    # capacity: minutes coded per day never exceed the roster's minutes
    cap = Allocator().config.productive_fraction * ROSTER.hours.sum() * 60
    assert (d.coding_minutes <= cap + 1e-6).all()


def test_simulation_invariants_and_routing_helps():
    arrivals = synthetic_arrivals(12, 60, ALLOC, seed=3)
    table, results = compare_policies(ROSTER, 12, 60, {"all-human": SimulatedRouting.all_human(),
                                                        "routed": SimulatedRouting.from_rate(0.4)},
                                      allocator=ALLOC, seed=3)
    for res in results.values():
        check_invariants(res, arrivals)
    h, r = table.loc["all-human"], table.loc["routed"]
    assert h.automated == 0 and r.automated > 0
    assert r.final_backlog <= h.final_backlog
    assert r.coding_minutes < h.coding_minutes


def test_same_seed_same_result_and_different_seed_differs():
    a = simulate_backlog(ROSTER, 5, 40, SimulatedRouting.from_rate(0.2), allocator=ALLOC, seed=7)
    b = simulate_backlog(ROSTER, 5, 40, SimulatedRouting.from_rate(0.2), allocator=ALLOC, seed=7)
    c = simulate_backlog(ROSTER, 5, 40, SimulatedRouting.from_rate(0.2), allocator=ALLOC, seed=8)
    pd.testing.assert_frame_equal(a.daily, b.daily)
    assert not a.daily.equals(c.daily)


def test_overloaded_roster_grows_backlog_and_waits():
    tiny = example_roster(3, hours=2.0)
    res = simulate_backlog(tiny, 6, 50, None, allocator=ALLOC, seed=0)
    assert (np.diff(res.daily.backlog_end) > 0).all()
    assert res.summary["mean_wait_days"] >= 0
    check = res.daily.backlog_end.iloc[-1] + res.summary["coded"]
    assert check == res.summary["arrivals"]


def test_threshold_policy_file_and_errors(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("name: sgr\nautomate_threshold: 0.8\nassist_threshold: 0.3\n")
    pol = SimulatedRouting.from_file(f)
    routes = pol.route(np.array([0.9, 0.5, 0.1]), np.zeros(3))
    assert list(routes) == ["automate", "assist", "manual"]
    f.write_text('{"shares": {"automate": 0.5, "assist": 0.2}}')
    g = tmp_path / "p.json"
    g.write_text(f.read_text())
    assert SimulatedRouting.from_file(g).automate == 0.5
    g.write_text('{"shares": {"automate": 0.9, "assist": 0.5}}')
    with pytest.raises(ValueError, match="sum to at most 1"):
        SimulatedRouting.from_file(g)
    g.write_text('{"thresholds": 1}')
    with pytest.raises(PolicyFileError, match="automate_threshold"):
        SimulatedRouting.from_file(g)
    with pytest.raises(ValueError, match="days"):
        simulate_backlog(ROSTER, 0, 10)


def test_saved_triage_policy_file(tmp_path):
    policies = pytest.importorskip("triage.policy.policies")
    from triage.policy.costs import CostModel

    pol = policies.Policy(kind="three_way", t_automate=0.8, t_assist=0.4, costs=CostModel().to_dict(),
                          constraints={}, expected={})
    f = tmp_path / "policy.json"
    f.write_text(pol.to_json())
    rp = SimulatedRouting.from_file(f)
    assert list(rp.route(np.array([0.95, 0.5, 0.1]), np.zeros(3))) == ["automate", "assist", "manual"]
    f.write_text(pol.to_json().replace('"t_automate": 0.8', '"t_automate": 0.7'))
    with pytest.raises(ValueError, match="edited|version"):
        SimulatedRouting.from_file(f)


@pytest.mark.slow  # ~2 CPU-s; the bound is the regression guard (90 days measured ~12 CPU-s, note)
def test_backlog_simulation_cpu_time_is_bounded():
    import resource

    from triage.allocation import example_roster
    from triage.allocation.simulate import SimulatedRouting, compare_policies

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    start = cpu()
    table, _ = compare_policies(example_roster(20, hours=7.5), 15, 500,
                                {"all-human": SimulatedRouting.all_human(), "routed": SimulatedRouting.from_rate(0.2)},
                                seed=0)
    used = cpu() - start
    assert table.loc["routed", "final_backlog"] < table.loc["all-human", "final_backlog"]
    assert used < 15.0, f"15 simulated days took {used:.1f} CPU-s"
