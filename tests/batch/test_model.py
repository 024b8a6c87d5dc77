"""The batch router: an engine task's share of the cores, and the same decisions however it is set."""

from __future__ import annotations

import numpy as np
import pytest
from coder_bundle import build_coder_bundle, note_episodes

from triage.batch.model import load_batch_router

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def parallel_coder_bundle(tmp_path_factory):
    from triage.router import Router

    path = build_coder_bundle(tmp_path_factory.mktemp("model") / "bundle")
    router = Router.load(path)
    router.coder.n_jobs, router.coder.n_threads = 2, 2  # as `triage run` trains it
    return router.save(path)


def test_a_spark_task_routes_in_its_own_process_on_its_cores(parallel_coder_bundle):
    import torch

    before = torch.get_num_threads()
    try:
        own = load_batch_router(parallel_coder_bundle)
        assert (own.coder.n_jobs, own.coder.n_threads) == (2, 2)  # the pandas engine: the coder's own
        task = load_batch_router(parallel_coder_bundle, cores=1)
        assert (task.coder.n_jobs, task.coder.n_threads) == (1, 1) and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_the_share_of_cores_never_changes_a_decision(parallel_coder_bundle):
    import torch

    before = torch.get_num_threads()
    # 2,100 notes: above the size at which the coder tokenises in processes
    notes = note_episodes(2_100, seed=3, words=30)
    episodes = [{"episode_id": int(r.episode_id), "text": r.text,
                 "metadata": {"age": r.age, "gender": r.gender, "died": bool(r.died)}} for r in notes.itertuples()]
    try:
        a = load_batch_router(parallel_coder_bundle).route_many(episodes)
        b = load_batch_router(parallel_coder_bundle, cores=1).route_many(episodes)
    finally:
        torch.set_num_threads(before)
    assert [d.route for d in a] == [d.route for d in b]
    assert np.abs(np.array([d.p_correct for d in a]) - [d.p_correct for d in b]).max() <= 1e-9
