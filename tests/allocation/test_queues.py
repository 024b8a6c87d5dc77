import numpy as np
import pytest

from triage.allocation import (
    AllocationConfigError,
    QueueMapper,
    chapter_of_label,
    load_config,
    normalise_chapter,
)


@pytest.mark.parametrize("label,chapter", [
    ("I50.9", 9), ("I10.", 9), ("C34.90", 2), ("D05.1", 2), ("D63.1", 3), ("O80.", 15), ("T81.4XXA", 19),
    ("Z51.11", 21), ("U07.1", 22), ("H61.2", 8), ("H40.1", 7), ("E11.9", 4), ("428.0", 9), ("250.00", 4),
    ("E879.0", 20), ("V58.11", 20),
])
def test_chapter_of_label(label, chapter):
    assert chapter_of_label(label) == chapter


def test_icd_version_settles_v_codes_and_garbage_is_none():
    assert chapter_of_label("V58.11", 9) == 21
    assert chapter_of_label("xx") is None
    assert chapter_of_label("??9.1") is None


def test_normalise_chapter_forms():
    assert normalise_chapter("IX") == normalise_chapter(9) == normalise_chapter("circulatory system") == 9
    assert normalise_chapter("Chapter XV") == 15
    assert normalise_chapter(23) is None and normalise_chapter("nope") is None


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


def test_range_table_agrees_with_icd10cm_hierarchy():
    icd10cm = pytest.importorskip("triage.codes.icd10cm")
    codes = ["A41.9", "C34.90", "D05.10", "D63.1", "E11.9", "F32.9", "G40.909", "H40.9", "H61.23", "I50.9",
             "J18.9", "K35.80", "L03.90", "M17.11", "N17.9", "O80", "P07.30", "Q21.1", "R07.9", "S72.001A",
             "T81.4XXA", "V43.52XA", "Z51.11", "U07.1"]
    for code in codes:
        try:
            ref = int(icd10cm.chapter(code.replace(".", "")))
        except ValueError:
            continue  # not in this tabular release
        assert chapter_of_label(code) == ref, code
