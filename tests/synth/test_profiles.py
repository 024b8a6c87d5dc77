"""Every hand-written code in the profiles is real, and the sequencing rules are consistent."""

import simple_icd_10_cm as cm

from triage.synth.phrases import CODE_FORMS, mention_forms
from triage.synth.daycase import DAY_CASE_COMORBIDITIES, DAY_CASE_TYPES, DAY_FORMS
from triage.synth.profiles import (COMMON_COMORBIDITIES, EXCLUSIVE, OBSERVATION_PROFILES, OBSERVATION_WEIGHTS,
                                   PROFILES, SEQUENCE_RULES)
from triage.synth.vocab import icd10cm, icd10pcs


def _dx_codes():
    codes = []
    for pr in PROFILES + OBSERVATION_PROFILES:
        codes += [c for c, _ in pr.principal] + [c for c, _ in pr.secondary]
    codes += [c for c, *_ in COMMON_COMORBIDITIES]
    codes += [c for pair in SEQUENCE_RULES + EXCLUSIVE for c in pair]
    codes += list(CODE_FORMS)
    return sorted(set(codes))


def test_profile_diagnoses_are_billable_icd10cm_leaves():
    bad = [c for c in _dx_codes() if not (cm.is_valid_item(c) and cm.is_leaf(c))]
    assert bad == []


def test_profile_procedures_are_real_icd10pcs_codes():
    pcs = set(icd10pcs().codes.tolist())
    bad = [(pr.name, c) for pr in PROFILES for c, _ in pr.procedures if c not in pcs]
    assert bad == []
    assert len(pcs) > 70_000


def test_vocabulary_has_official_descriptions():
    voc = icd10cm()
    titles = voc.title_of()
    assert len(voc.codes) > 70_000
    assert titles["I509"] == cm.get_description("I509") == "Heart failure, unspecified"
    assert all(c == c.upper() and "." not in c for c in voc.codes[:1000])


def test_probabilities_and_weights_are_valid():
    for pr in PROFILES:
        assert pr.weight > 0 and pr.principal
        assert all(0 < q <= 1 for _, q in pr.secondary + pr.procedures), pr.name
    assert all(0 < b < 1 for _, b, _, _ in COMMON_COMORBIDITIES)


def test_siblings_share_generic_forms_but_not_specific_ones():
    titles = icd10cm().title_of()
    a_spec, a_gen = mention_forms("I5023", titles["I5023"], "Systolic (congestive) heart failure")
    b_spec, b_gen = mention_forms("I5033", titles["I5033"], "Diastolic (congestive) heart failure")
    assert "CHF" in a_gen and "CHF" in b_gen
    assert not set(a_spec) & set(b_spec)


def _day_case_codes():
    dx, px = set(), set()
    for t in DAY_CASE_TYPES:
        for c, _ in t.principal + t.secondary + t.companion:
            dx.update(c.split("|"))
        for c in t.incidental:
            dx.update(c.split("|"))
        for c, _ in t.procedures + t.extra_procedures:
            px.update(c.split("|"))
    dx.update(c for c, *_ in DAY_CASE_COMORBIDITIES)
    return dx, px


def test_day_case_codes_are_real_and_every_one_has_note_wording():
    dx, px = _day_case_codes()
    assert [c for c in sorted(dx) if not (cm.is_valid_item(c) and cm.is_leaf(c))] == []
    assert sorted(px - set(icd10pcs().codes.tolist())) == []
    # every code a day case can carry has hand-written specific and generic wording
    assert sorted((dx | px) - set(DAY_FORMS)) == []
    assert all(spec and gen for spec, gen in DAY_FORMS.values())
    for t in DAY_CASE_TYPES:
        assert 1 <= len(t.procedures) <= 8 and t.weight > 0, t.name
        if t.lateral:  # a lateral type has at least one code written "right|left"
            assert any("|" in c for c, _ in t.procedures + t.principal), t.name


def test_observation_profiles_are_low_acuity_and_weighted():
    names = {pr.name for pr in PROFILES + OBSERVATION_PROFILES}
    assert set(OBSERVATION_WEIGHTS) <= names
    assert all(pr.weight == 0 for pr in OBSERVATION_PROFILES)
    by_name = {pr.name: pr for pr in PROFILES + OBSERVATION_PROFILES}
    assert all(by_name[n].mortality <= 0.03 for n in OBSERVATION_WEIGHTS)  # no sepsis, shock or ventilation
