import numpy as np
import pytest

from triage.allocation import (
    AllocationConfigError,
    QueueMapper,
    load_config,
)


def test_precedence_drg_over_mdc_over_chapter():
    m = QueueMapper(load_config())
    assert m.queue(drg=291, mdc=4, chapter=2) == "cardiology"      # DRG family wins
    assert m.queue(drg=999, mdc=4, chapter=2) == "respiratory"     # unknown DRG -> MDC
    assert m.queue(drg=None, mdc=None, chapter=2) == "oncology"    # chapter
    assert m.queue(chapter=11) == "general"                        # unmapped -> default


def test_vectorised_queue_matches_scalar():
    m = QueueMapper(load_config())
    rng = np.random.default_rng(0)
    drg = rng.choice([-1, 64, 291, 470, 683, 790, 840, 999, 5000], 300)
    mdc = rng.choice([-1, 1, 4, 5, 6, 14, 17, 30], 300)
    ch = rng.choice([-1, 2, 9, 11, 15, 21], 300)
    codes = m.queue_codes(drg, mdc, ch)
    for i in range(300):
        exp = m.queue(None if drg[i] < 0 else int(drg[i]), None if mdc[i] < 0 else int(mdc[i]),
                      None if ch[i] < 0 else int(ch[i]))
        assert m.queues[codes[i]] == exp


def test_user_config_overrides_and_errors(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text("queues:\n  chapters:\n    11: general\n    9: renal\n")
    cfg = load_config(f)
    assert QueueMapper(cfg).queue(chapter=9) == "renal"
    assert QueueMapper(cfg).queue(chapter=2) == "general"  # chapters map replaced wholesale
    f.write_text("queues:\n  chapters:\n    9: cardiolgy\n")
    with pytest.raises(AllocationConfigError, match="cardiolgy"):
        load_config(f)
    f.write_text("priorty: {}\n")
    with pytest.raises(AllocationConfigError, match="priorty"):
        load_config(f)
    with pytest.raises(AllocationConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
