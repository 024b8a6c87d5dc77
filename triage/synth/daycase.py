"""Day-case episodes: elective same-day care and its short procedure-report notes.

A day case is one planned procedure: an endoscopy, a cataract operation, a chemotherapy session or
a minor operation (hernia repair, skin lesion excision, carpal tunnel or trigger finger release).
As in NHS day-case endoscopy (docs/references.md#care-settings-and-the-workload: 1-6 diagnosis codes per episode, 6-8 procedure
types covering most cases), each specialty has a handful of procedure types and each episode
carries 1-6 ICD-10-CM codes and mostly one ICD-10-PCS code.

The note is a procedure report (Procedure / Indication / Findings / Diagnosis / Plan). What keeps
it from being trivially codable is what real reports do (tuned in :class:`DayCaseNoteParams` so the
baseline coder lands in the range of the one audited day-care autocoder, F1 0.655-0.676):
unspecific wording (the side or the 4th-6th character left to the coder), incidental findings that
are mentioned but not coded, history mentions, and secondary codes with no evidence in the note.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

D = "___"


@dataclass(frozen=True)
class DayCaseType:
    """One procedure type. Codes written ``"R|L"`` are lateral: the episode's side picks one."""

    name: str
    specialty: str
    weight: float
    procedures: tuple[tuple[str, float], ...]          # one is drawn
    principal: tuple[tuple[str, float], ...]           # one is drawn
    secondary: tuple[tuple[str, float], ...] = ()      # each with its probability
    companion: tuple[tuple[str, float], ...] = ()      # one is always coded second (chemo: the cancer)
    extra_procedures: tuple[tuple[str, float], ...] = ()  # each with its probability
    incidental: tuple[str, ...] = ()                   # codes whose findings are mentioned but not coded
    lateral: bool = False
    min_age: int = 0
    service: str = "SURGERY"


T = DayCaseType

DAY_CASE_TYPES: tuple[DayCaseType, ...] = (
    # --- endoscopy (GASTROENTEROLOGY)
    T("colonoscopy", "endoscopy", 2.5, (("0DJD8ZZ", 1),),
      (("Z1211", 3), ("Z860101", 1.5), ("Z860100", .5), ("R195", .5), ("D509", .6), ("R197", .5), ("K5900", .3)),
      (("K5730", .3), ("K648", .25), ("Z800", .15), ("Z860101", .1)),
      incidental=("K640", "K5730", "K648", "K6289"), service="GASTROENTEROLOGY"),
    T("colonoscopy with biopsy or polypectomy", "endoscopy", 2.0,
      (("0DBN8ZX", .35), ("0DBE8ZX", .35), ("0DBK8ZX", .15), ("0DBP8ZX", .15)),
      (("K635", 2.5), ("D125", 1), ("D126", 1), ("D122", .5), ("Z1211", 1.5), ("K621", .4)),
      (("K635", .3), ("K5730", .25), ("K648", .2), ("Z800", .1), ("Z860101", .15)),
      incidental=("K640", "K5730", "K648"), service="GASTROENTEROLOGY"),
    T("upper endoscopy", "endoscopy", 1.5, (("0DJ08ZZ", 1),),
      (("K219", 2), ("R1013", 1.5), ("R1310", 1), ("D509", .6), ("K2270", .8), ("K449", .5)),
      (("K449", .3), ("K2970", .25), ("K219", .2)),
      incidental=("K449", "K2900", "K2090"), service="GASTROENTEROLOGY"),
    T("upper endoscopy with biopsy", "endoscopy", 1.5, (("0DB68ZX", .6), ("0DB98ZX", .25), ("0DB58ZX", .15)),
      (("K2970", 2), ("K2950", 1), ("K2270", 1), ("K3189", .5), ("D509", .5), ("R1013", .8)),
      (("K449", .3), ("K219", .25), ("B9681", .12)),
      incidental=("K449", "K2900", "K2090"), service="GASTROENTEROLOGY"),
    T("esophageal dilation", "endoscopy", .4, (("0D758ZZ", 1),),
      (("R1310", 1.5), ("K222", 1.5)), (("K219", .4), ("K449", .2)),
      incidental=("K449", "K2090"), service="GASTROENTEROLOGY"),
    # --- cataract (OPHTHALMOLOGY)
    T("cataract surgery", "cataract", 3.4, (("08RJ3JZ|08RK3JZ", 1),),
      (("H2511|H2512", 3), ("H25811|H25812", 1.5), ("H25011|H25012", 1), ("H25041|H25042", .5)),
      (("Z961", .15), ("H401130", .06), ("H3530", .1), ("H04123", .08)),
      incidental=("H52203", "H04123", "H3530"), lateral=True, min_age=45, service="OPHTHALMOLOGY"),
    # --- chemotherapy (ONCOLOGY)
    T("chemotherapy", "chemotherapy", 3.2, (("3E03305", .45), ("3E04305", .4), ("3E0330M", .15)),
      (("Z5111", 4), ("Z5112", .6)),
      (("C7951", .12), ("C787", .12), ("D701", .06), ("D6481", .1), ("R110", .1)),
      companion=(("C50911", 1), ("C50912", 1), ("C189", 1.2), ("C3490", 1), ("C61", .6), ("C20", .5),
                 ("C250", .5), ("C8590", .6), ("C9000", .6), ("C569", .4)),
      extra_procedures=(("30233N1", .08),),
      incidental=("R5383", "R634", "D696"), service="ONCOLOGY"),
    # --- minor surgery (SURGERY, PLASTIC SURGERY, HAND SURGERY)
    T("inguinal hernia repair", "minor_surgery", 1.3,
      (("0YU50JZ|0YU60JZ", .7), ("0YQ50ZZ|0YQ60ZZ", .15), ("0YU54JZ|0YU64JZ", .15)),
      (("K4090", 3), ("K4091", .5)), (), incidental=("K429",), lateral=True, service="SURGERY"),
    T("umbilical hernia repair", "minor_surgery", .4, (("0WQF0ZZ", .6), ("0WUF0JZ", .4)),
      (("K429", 2), ("K439", .5)), (("E669", .2),), incidental=("K4090",), service="SURGERY"),
    T("excision of skin lesion of the trunk", "minor_surgery", .8,
      (("0HB6XZZ", .4), ("0HB5XZZ", .3), ("0HB7XZZ", .3)),
      (("D225", 1), ("L821", 1), ("L720", 1.2), ("D485", .6), ("C44519", .4)),
      (("Z85828", .1),), incidental=("L821", "D225"), service="PLASTIC SURGERY"),
    T("excision of skin lesion of the face or neck", "minor_surgery", .5, (("0HB1XZZ", .7), ("0HB4XZZ", .3)),
      (("D2239", .6), ("L821", .8), ("L720", .8), ("C44319", .8), ("D485", .5)),
      (("Z85828", .15),), incidental=("L821", "D2239"), service="PLASTIC SURGERY"),
    T("carpal tunnel release", "minor_surgery", .8, (("01N50ZZ", 1),),
      (("G5601|G5602", 1),), (), incidental=("M65321|M65322",), lateral=True, service="HAND SURGERY"),
    T("trigger finger release", "minor_surgery", .4, (("0LN70ZZ|0LN80ZZ", 1),),
      (("M65321|M65322", 1), ("M65311|M65312", 1)), (), incidental=("G5601|G5602",), lateral=True,
      service="HAND SURGERY"),
)

#: Chronic conditions coded in day cases when present (code, base probability, slope per decade over 60, sex).
DAY_CASE_COMORBIDITIES: tuple[tuple[str, float, float, str | None], ...] = (
    ("I10", .30, .05, None), ("E785", .24, .04, None), ("E119", .12, .02, None), ("Z87891", .12, .01, None),
    ("K219", .08, .0, None), ("E039", .07, .01, None), ("Z7982", .06, .02, None), ("Z7901", .04, .015, None),
    ("J45909", .05, -.01, None), ("F419", .05, -.005, None), ("N400", .06, .03, "M"), ("M810", .04, .03, "F"),
)

_CANCER_SEX = {"C50911": "F", "C50912": "F", "C569": "F", "C61": "M"}


def _side(code: str, right: bool) -> str:
    if "|" not in code:
        return code
    r, left = code.split("|")
    return r if right else left


def _pick(rng: np.random.Generator, options: tuple[tuple[str, float], ...]) -> str:
    w = np.array([x for _, x in options], dtype=float)
    return options[int(np.searchsorted(np.cumsum(w) / w.sum(), rng.random()))][0]


@dataclass
class DayCaseSample:
    diagnoses: list[list[str]]
    procedures: list[list[str]]
    types: list[int]          # index into DAY_CASE_TYPES
    right: list[bool]         # side of lateral procedures


def sample_day_cases(rng: np.random.Generator, age: np.ndarray, sex: np.ndarray) -> DayCaseSample:
    """Codes of ``len(age)`` day cases: 1-6 diagnoses (principal first) and mostly one procedure."""
    n = len(age)
    weights = np.array([t.weight for t in DAY_CASE_TYPES])
    min_age = np.array([t.min_age for t in DAY_CASE_TYPES])
    dx_all: list[list[str]] = []
    px_all: list[list[str]] = []
    types: list[int] = []
    sides: list[bool] = []
    com_codes = [c for c, *_ in DAY_CASE_COMORBIDITIES]
    for i in range(n):
        w = weights * (age[i] >= min_age)
        k = int(np.searchsorted(np.cumsum(w) / w.sum(), rng.random()))
        t = DAY_CASE_TYPES[k]
        right = bool(rng.random() < 0.5)
        px = [_side(_pick(rng, t.procedures), right)]
        px += [c for c, q in t.extra_procedures if rng.random() < q]
        dx = [_side(_pick(rng, t.principal), right)]
        if t.companion:
            ok = tuple((c, q) for c, q in t.companion if _CANCER_SEX.get(c, sex[i]) == sex[i])
            dx.append(_pick(rng, ok))
        dx += [c for c, q in t.secondary if rng.random() < q]
        decades = (age[i] - 60.0) / 10.0
        for c, base, slope, only in DAY_CASE_COMORBIDITIES:
            if only is not None and only != sex[i]:
                rng.random()  # keep one draw per comorbidity so streams stay aligned
                continue
            if rng.random() < np.clip(base + slope * decades, 0.0, 0.9):
                dx.append(c)
        dx = list(dict.fromkeys(dx))
        if "Z7901" in dx and "Z7982" in dx:
            dx.remove("Z7982")
        dx_all.append(dx[:6])
        px_all.append(px)
        types.append(k)
        sides.append(right)
    del com_codes
    return DayCaseSample(dx_all, px_all, types, sides)


# ----------------------------------------------------------------------------------- notes
#: How day-case notes word a code: (specific forms, generic forms). Specific forms identify the
#: code (side, site, 4th-6th character); generic forms are what a busy proceduralist writes.
#: Lateral codes use "{side}" / "{eye}" / "{SIDE}" placeholders filled from the episode's side.
DAY_FORMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # procedures
    "0DJD8ZZ": (("colonoscopy to the cecum, no intervention", "complete colonoscopy, diagnostic only"),
                ("colonoscopy", "lower GI endoscopy")),
    "0DBN8ZX": (("colonoscopy with cold biopsy of the sigmoid colon", "colonoscopy, sigmoid biopsies taken"),
                ("colonoscopy with biopsy", "colonoscopy")),
    "0DBE8ZX": (("colonoscopy with random colonic biopsies", "colonoscopy with biopsies of the colon"),
                ("colonoscopy with biopsy", "colonoscopy")),
    "0DBK8ZX": (("colonoscopy with biopsy of the ascending colon",), ("colonoscopy with biopsy", "colonoscopy")),
    "0DBP8ZX": (("colonoscopy with rectal biopsy", "flexible sigmoidoscopy with rectal biopsies"),
                ("colonoscopy with biopsy", "lower GI endoscopy")),
    "0DJ08ZZ": (("EGD, diagnostic, no biopsies", "esophagogastroduodenoscopy without intervention"),
                ("EGD", "upper endoscopy")),
    "0DB68ZX": (("EGD with gastric biopsies", "upper endoscopy with biopsy of the stomach antrum"),
                ("EGD with biopsy", "EGD")),
    "0DB98ZX": (("EGD with duodenal biopsies", "upper endoscopy with biopsy of the duodenum"),
                ("EGD with biopsy", "EGD")),
    "0DB58ZX": (("EGD with esophageal biopsies", "upper endoscopy with biopsy of the distal esophagus"),
                ("EGD with biopsy", "EGD")),
    "0D758ZZ": (("EGD with balloon dilation of the esophagus", "esophageal dilation to 18 mm"),
                ("EGD with dilation", "EGD")),
    "08RJ3JZ": (("phacoemulsification with IOL implant, right eye", "right cataract extraction with posterior chamber IOL"),
                ("phaco/IOL", "cataract extraction with lens implant")),
    "08RK3JZ": (("phacoemulsification with IOL implant, left eye", "left cataract extraction with posterior chamber IOL"),
                ("phaco/IOL", "cataract extraction with lens implant")),
    "3E03305": (("chemotherapy infused via peripheral IV", "IV chemotherapy through a peripheral cannula"),
                ("chemotherapy administered", "cycle given as planned")),
    "3E04305": (("chemotherapy infused via port-a-cath", "chemotherapy through the central port"),
                ("chemotherapy administered", "cycle given as planned")),
    "3E0330M": (("monoclonal antibody infusion via peripheral IV", "pembrolizumab infusion, peripheral line"),
                ("immunotherapy administered", "infusion given as planned")),
    "30233N1": (("1 unit PRBC transfused peripherally", "transfusion of packed red cells"), ("transfusion",)),
    "0YU50JZ": (("open right inguinal hernia repair with mesh (Lichtenstein)",), ("inguinal hernia repair with mesh", "hernia repair")),
    "0YU60JZ": (("open left inguinal hernia repair with mesh (Lichtenstein)",), ("inguinal hernia repair with mesh", "hernia repair")),
    "0YQ50ZZ": (("open right inguinal herniorrhaphy, no mesh",), ("inguinal herniorrhaphy", "hernia repair")),
    "0YQ60ZZ": (("open left inguinal herniorrhaphy, no mesh",), ("inguinal herniorrhaphy", "hernia repair")),
    "0YU54JZ": (("laparoscopic right inguinal hernia repair with mesh (TEP)",), ("laparoscopic inguinal hernia repair", "hernia repair")),
    "0YU64JZ": (("laparoscopic left inguinal hernia repair with mesh (TEP)",), ("laparoscopic inguinal hernia repair", "hernia repair")),
    "0WQF0ZZ": (("open umbilical hernia repair, primary suture",), ("umbilical hernia repair",)),
    "0WUF0JZ": (("open umbilical hernia repair with mesh",), ("umbilical hernia repair",)),
    "0HB6XZZ": (("excision of skin lesion, back", "elliptical excision, upper back"), ("excision of skin lesion",)),
    "0HB5XZZ": (("excision of skin lesion, chest wall", "elliptical excision, anterior chest"), ("excision of skin lesion",)),
    "0HB7XZZ": (("excision of skin lesion, abdomen", "elliptical excision, abdominal wall skin"), ("excision of skin lesion",)),
    "0HB1XZZ": (("excision of skin lesion, face", "excision of facial lesion with primary closure"), ("excision of skin lesion",)),
    "0HB4XZZ": (("excision of skin lesion, neck", "excision of lesion, posterior neck"), ("excision of skin lesion",)),
    "01N50ZZ": (("open carpal tunnel release, {side} wrist", "{side} open median nerve decompression"),
                ("carpal tunnel release", "CTR")),
    "0LN70ZZ": (("{side} trigger finger release (A1 pulley)",), ("trigger finger release", "A1 pulley release")),
    "0LN80ZZ": (("{side} trigger finger release (A1 pulley)",), ("trigger finger release", "A1 pulley release")),
    # diagnoses
    "Z1211": (("average-risk colorectal cancer screening", "screening colonoscopy"), ("screening",)),
    "Z860101": (("history of adenomatous colon polyps, surveillance", "surveillance for prior adenomas"),
                ("history of polyps", "polyp surveillance")),
    "Z860100": (("history of colon polyps, histology unknown",), ("history of polyps", "polyp surveillance")),
    "R195": (("positive FIT test", "positive fecal occult blood test"), ("abnormal stool test",)),
    "D509": (("iron deficiency anemia", "IDA"), ("anemia",)),
    "R197": (("chronic diarrhea", "diarrhea"), ("change in bowel habit",)),
    "K5900": (("constipation",), ("change in bowel habit",)),
    "K5730": (("sigmoid diverticulosis", "diverticulosis of the colon"), ("diverticula",)),
    "K648": (("internal hemorrhoids", "hemorrhoids"), ("hemorrhoids",)),
    "K640": (("small first-degree internal hemorrhoids",), ("hemorrhoids",)),
    "K6289": (("mild proctitis",), ("rectal erythema",)),
    "Z800": (("family history of colon cancer", "first-degree relative with colon cancer"), ("family history",)),
    "K635": (("colon polyp", "sessile polyp in the colon"), ("polyp",)),
    "D125": (("tubular adenoma of the sigmoid colon", "sigmoid adenoma"), ("adenoma", "polyp")),
    "D126": (("tubular adenoma of the colon", "colonic adenoma"), ("adenoma", "polyp")),
    "D122": (("tubular adenoma of the ascending colon", "ascending colon adenoma"), ("adenoma", "polyp")),
    "K621": (("rectal polyp",), ("polyp",)),
    "K219": (("GERD", "gastroesophageal reflux disease"), ("reflux", "heartburn")),
    "R1013": (("epigastric pain",), ("abdominal pain", "dyspepsia")),
    "R1310": (("dysphagia", "difficulty swallowing"), ("swallowing problems",)),
    "K2270": (("Barrett's esophagus without dysplasia", "non-dysplastic Barrett's"), ("Barrett's",)),
    "K449": (("hiatal hernia", "small sliding hiatal hernia"), ("hiatus hernia",)),
    "K2970": (("gastritis", "antral gastritis"), ("erythematous mucosa in the stomach",)),
    "K2950": (("chronic gastritis",), ("gastritis",)),
    "K2900": (("acute gastritis",), ("gastritis",)),
    "K2090": (("esophagitis", "LA grade A esophagitis"), ("esophageal erythema",)),
    "K3189": (("duodenitis", "gastric erosions"), ("mucosal changes",)),
    "B9681": (("H. pylori positive", "Helicobacter pylori on CLO test"), ("CLO test sent",)),
    "K222": (("esophageal stricture", "peptic stricture"), ("narrowing of the esophagus",)),
    "H2511": (("nuclear sclerotic cataract, right eye", "NS cataract OD"), ("cataract", "age-related cataract")),
    "H2512": (("nuclear sclerotic cataract, left eye", "NS cataract OS"), ("cataract", "age-related cataract")),
    "H25811": (("combined nuclear and cortical cataract, right eye",), ("cataract", "mixed cataract")),
    "H25812": (("combined nuclear and cortical cataract, left eye",), ("cataract", "mixed cataract")),
    "H25011": (("cortical cataract, right eye",), ("cataract", "cortical cataract")),
    "H25012": (("cortical cataract, left eye",), ("cataract", "cortical cataract")),
    "H25041": (("posterior subcapsular cataract, right eye", "PSC OD"), ("cataract", "PSC")),
    "H25042": (("posterior subcapsular cataract, left eye", "PSC OS"), ("cataract", "PSC")),
    "Z961": (("pseudophakia of the fellow eye", "IOL in the other eye"), ("prior cataract surgery",)),
    "H401130": (("primary open-angle glaucoma, both eyes",), ("glaucoma",)),
    "H3530": (("macular degeneration", "AMD"), ("drusen",)),
    "H04123": (("dry eye syndrome, both eyes",), ("dry eyes",)),
    "H52203": (("astigmatism",), ("refractive error",)),
    "Z5111": (("admitted for scheduled chemotherapy", "day unit visit for chemotherapy cycle"), ("chemotherapy", "chemo")),
    "Z5112": (("admitted for scheduled immunotherapy", "day unit visit for immunotherapy"), ("immunotherapy", "treatment")),
    "C50911": (("right breast cancer", "carcinoma of the right breast"), ("breast cancer",)),
    "C50912": (("left breast cancer", "carcinoma of the left breast"), ("breast cancer",)),
    "C189": (("colon cancer", "adenocarcinoma of the colon"), ("colorectal cancer",)),
    "C3490": (("lung cancer", "NSCLC"), ("lung malignancy",)),
    "C61": (("prostate cancer", "adenocarcinoma of the prostate"), ("prostate malignancy",)),
    "C20": (("rectal cancer", "adenocarcinoma of the rectum"), ("colorectal cancer",)),
    "C250": (("pancreatic head cancer", "adenocarcinoma of the head of pancreas"), ("pancreatic cancer",)),
    "C8590": (("non-Hodgkin lymphoma", "NHL"), ("lymphoma",)),
    "C9000": (("multiple myeloma", "myeloma, not in remission"), ("myeloma",)),
    "C569": (("ovarian cancer", "carcinoma of the ovary"), ("ovarian malignancy",)),
    "C7951": (("bone metastases", "osseous mets"), ("metastatic disease",)),
    "C787": (("liver metastases", "hepatic mets"), ("metastatic disease",)),
    "D701": (("chemotherapy-induced neutropenia", "neutropenia after last cycle"), ("low counts",)),
    "D6481": (("anemia due to chemotherapy", "chemo-related anemia"), ("anemia",)),
    "R110": (("nausea",), ("GI upset",)),
    "R5383": (("fatigue",), ("tiredness",)),
    "R634": (("weight loss",), ("poor appetite",)),
    "D696": (("thrombocytopenia",), ("low platelets",)),
    "K4090": (("{side} inguinal hernia", "{side} reducible inguinal hernia"), ("inguinal hernia", "groin hernia")),
    "K4091": (("recurrent {side} inguinal hernia",), ("inguinal hernia", "groin hernia")),
    "K429": (("umbilical hernia",), ("periumbilical bulge",)),
    "K439": (("ventral hernia",), ("abdominal wall hernia",)),
    "E669": (("obesity",), ("raised BMI",)),
    "D225": (("benign nevus of the trunk", "melanocytic nevus, back"), ("mole", "pigmented lesion")),
    "L821": (("seborrheic keratosis",), ("skin lesion", "warty lesion")),
    "L720": (("epidermal inclusion cyst", "epidermoid cyst"), ("skin cyst", "cyst")),
    "D485": (("skin lesion of uncertain behavior", "atypical skin lesion, histology pending"), ("skin lesion",)),
    "C44519": (("basal cell carcinoma of the back", "BCC, trunk"), ("skin cancer", "BCC")),
    "C44319": (("basal cell carcinoma of the cheek", "BCC, face"), ("skin cancer", "BCC")),
    "D2239": (("benign nevus of the face", "facial melanocytic nevus"), ("mole", "pigmented lesion")),
    "Z85828": (("history of skin cancer", "prior BCC excised"), ("previous skin lesions",)),
    "G5601": (("right carpal tunnel syndrome", "carpal tunnel syndrome, right hand"), ("carpal tunnel syndrome", "CTS")),
    "G5602": (("left carpal tunnel syndrome", "carpal tunnel syndrome, left hand"), ("carpal tunnel syndrome", "CTS")),
    "M65321": (("trigger finger, right index finger",), ("trigger finger",)),
    "M65322": (("trigger finger, left index finger",), ("trigger finger",)),
    "M65311": (("trigger thumb, right",), ("trigger thumb", "trigger digit")),
    "M65312": (("trigger thumb, left",), ("trigger thumb", "trigger digit")),
    "I10": (("hypertension", "HTN"), ("on amlodipine",)),
    "E785": (("hyperlipidemia", "HLD"), ("on a statin",)),
    "E119": (("type 2 diabetes", "T2DM"), ("diabetic", "on metformin")),
    "Z87891": (("former smoker", "ex-smoker"), ("quit smoking",)),
    "E039": (("hypothyroidism",), ("on levothyroxine",)),
    "Z7982": (("on aspirin", "aspirin held for the procedure"), ("on antiplatelet",)),
    "Z7901": (("on apixaban, held 48 h", "anticoagulated, held pre-procedure"), ("on a blood thinner",)),
    "J45909": (("asthma",), ("uses inhaler",)),
    "F419": (("anxiety",), ("nervous about the procedure",)),
    "N400": (("BPH",), ("prostate symptoms",)),
    "M810": (("osteoporosis",), ("on alendronate",)),
}

_SEDATION = {
    "endoscopy": ("Sedation: moderate sedation with midazolam and fentanyl.", "Sedation: propofol (MAC).",
                  "Sedation: none, throat spray only."),
    "cataract": ("Anesthesia: topical and intracameral lidocaine.", "Anesthesia: sub-Tenon block."),
    "minor_surgery": ("Anesthesia: local with 1% lidocaine.", "Anesthesia: general (LMA).",
                      "Anesthesia: regional block."),
}
_PLAN = {
    "endoscopy": ("Await pathology; results by letter.", "Repeat colonoscopy in 5 years.",
                  "Resume diet as tolerated.", "Continue PPI.", "Repeat endoscopy in 3 years.",
                  "Discharged home with escort once recovered from sedation."),
    "cataract": ("Post-op drops: prednisolone and moxifloxacin QID.", "Review in clinic in 1 week.",
                 "Eye shield at night for 1 week.", "No heavy lifting for 1 week."),
    "chemotherapy": ("Next cycle in 3 weeks if counts allow.", "Antiemetics as prescribed.",
                     "Labs prior to next cycle.", "Call the oncology hotline for fever > 38.0C."),
    "minor_surgery": ("Dressing to remain for 48 h.", "Sutures out in 10-14 days.", "Simple analgesia.",
                      "Review in clinic with histology.", "No heavy lifting for 4 weeks."),
}
_TECHNIQUE = {
    "endoscopy": ("Informed consent obtained. Time-out performed.", "The scope was advanced without difficulty.",
                  "Bowel preparation was good (BBPS 7).", "Withdrawal time 8 minutes.",
                  "Patient tolerated the procedure well, no immediate complications.", "Retroflexion performed."),
    "cataract": ("Informed consent obtained. Time-out performed, site marked.", "Clear corneal incision, capsulorhexis.",
                 "Phacoemulsification of the nucleus, cortex removed by I/A.", "Foldable IOL placed in the bag.",
                 "Wound hydrated and checked watertight.", "No complications."),
    "minor_surgery": ("Informed consent obtained. Time-out performed, site marked.", "Skin prepped and draped in usual sterile fashion.",
                      "Hemostasis achieved. Closed in layers.", "Specimen sent to pathology.",
                      "Estimated blood loss minimal.", "No complications."),
}
_FINDING_OPEN = ("Found: {}.", "{} noted.", "There was {}.", "{} seen.")
_HISTORY = ("history of {}", "previously treated {}", "{} in the past, resolved", "prior {}")
_NEGATED = ("no {}", "no evidence of {}", "{} not seen")
_REGIMEN = {"Z5111": ("FOLFOX", "carboplatin/paclitaxel", "AC-T", "gemcitabine", "R-CHOP", "docetaxel"),
            "Z5112": ("pembrolizumab", "nivolumab", "trastuzumab", "daratumumab")}


@dataclass(frozen=True)
class DayCaseNoteParams:
    """Noise of day-case notes. Defaults are tuned so the baseline coder (torch-mlp, 5-fold, as
    ``triage run`` trains it on the default 10,000-episode mixed cohort) scores day-case micro-F1 in
    the audited day-care autocoder's range (0.655-0.676, docs/references.md#care-settings-and-the-workload); the measured steps are in
    the README section "Care settings and the workload"."""

    p_clear_note: float = 0.45         # notes written fully specific with every secondary evidenced
    p_generic: float = 0.7             # otherwise: a mention uses generic wording (side / 4th-6th character lost)
    p_side_stated: float = 0.5         # with generic wording of a lateral case, the side is still written elsewhere
    p_no_evidence: float = 0.4         # a secondary code has no evidence in the note
    incidental_per_note: float = 1.5   # Poisson mean: findings mentioned as present but not coded
    history_per_note: float = 0.8      # Poisson mean: history mentions of conditions not coded now
    negated_per_note: float = 0.5      # Poisson mean: "no X" findings


class DayCaseNoteWriter:
    """Writes procedure reports; deterministic for a seed (its own random.Random stream)."""

    def __init__(self, seed: int, params: DayCaseNoteParams | None = None):
        self.params = params or DayCaseNoteParams()
        self.rng = random.Random(seed * 1_000_003 + 29)
        self._fallback: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        pool: list[str] = []
        for t in DAY_CASE_TYPES:
            pool += [c for c, _ in t.principal] + [c for c, _ in t.secondary] + list(t.incidental)
        # conditions a note may mention as history or incidental findings: no encounter Z codes and no
        # chronic comorbidities (a documented chronic condition is coded, never a mere mention)
        chronic = {c for c, *_ in DAY_CASE_COMORBIDITIES}
        self.pool = [c for c in dict.fromkeys(pool) if not c.startswith("Z") and c not in chronic]
        self._p_generic = self.params.p_generic

    def forms(self, code: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        f = DAY_FORMS.get(code) or self._fallback.get(code)
        if f is None:
            from triage.synth.phrases import mention_forms
            from triage.synth.vocab import icd10cm, icd10pcs

            cm = icd10cm()
            titles = cm.title_of()
            if code in titles:
                parent = dict(zip(cm.codes.tolist(), cm.parent_titles.tolist()))
                f = mention_forms(code, titles[code], parent.get(code, ""))
            else:
                title = icd10pcs().title_of().get(code, code)
                f = ((title.lower(),), (title.split(",")[0].lower(),))
            self._fallback[code] = f
        return f

    def mention(self, code: str, right: bool, generic: bool | None = None) -> str:
        specific, gen = self.forms(code)
        r = self.rng
        use_generic = (r.random() < self._p_generic) if generic is None else generic
        pool = gen if use_generic else specific
        text = pool[int(r.random() * len(pool))]
        side = "right" if right else "left"
        return text.replace("{side}", side)

    def write(self, dx: list[str], px: list[str], type_index: int, right: bool, sex: str) -> str:
        r, p = self.rng, self.params
        t = DAY_CASE_TYPES[type_index]
        # documentation quality varies by clinician: some reports are fully specific and complete
        clear = r.random() < p.p_clear_note
        self._p_generic = 0.0 if clear else p.p_generic
        p_no_evidence = 0.0 if clear else p.p_no_evidence
        noise_scale = 0.3 if clear else 1.0
        gold = set(dx)
        lateral_codes = t.lateral

        def resolve(code: str) -> str:
            return _side(code, right)

        proc_lines = [self.mention(c, right) for c in px]
        principal = dx[0]
        ind = [self.mention(principal, right)]
        findings: list[str] = []
        diagnosis = [self.mention(principal, right)]
        pmh: list[str] = []
        com_codes = {c for c, *_ in DAY_CASE_COMORBIDITIES}
        for code in dx[1:]:
            if t.companion and code in {c for c, _ in t.companion}:
                ind.append(self.mention(code, right))
                if r.random() < 0.5:
                    diagnosis.append(self.mention(code, right))
                continue
            if r.random() < p_no_evidence:
                continue
            if code in com_codes:
                pmh.append(self.mention(code, right))
            elif r.random() < 0.6:
                findings.append(r.choice(_FINDING_OPEN).format(self.mention(code, right)))
                if r.random() < 0.4:
                    diagnosis.append(self.mention(code, right))
            else:
                diagnosis.append(self.mention(code, right))
        # noise: findings present but not coded, history, negatives (never a gold code)
        # noise mentions never name a coded condition's category (no "hemorrhoids" beside coded
        # hemorrhoids) and a condition is never both found and ruled out
        used = {c[:3] for c in gold}
        inc_pool = [resolve(c) for c in t.incidental]
        for _ in range(np.random.default_rng(r.getrandbits(32)).poisson(p.incidental_per_note * noise_scale)):
            c = r.choice(inc_pool) if inc_pool and r.random() < 0.7 else r.choice(self.pool)
            c = resolve(c)
            if c[:3] not in used:
                used.add(c[:3])
                findings.append(r.choice(_FINDING_OPEN).format(self.mention(c, right)))
        k_hist = np.random.default_rng(r.getrandbits(32)).poisson(p.history_per_note * noise_scale)
        for _ in range(k_hist):
            c = resolve(r.choice(self.pool))
            if c[:3] not in used:
                used.add(c[:3])
                pmh.append(r.choice(_HISTORY).format(self.mention(c, right, generic=False)))
        k_neg = np.random.default_rng(r.getrandbits(32)).poisson(p.negated_per_note)
        negs = []
        for _ in range(k_neg):
            c = resolve(r.choice(inc_pool or self.pool))
            if c[:3] not in used:
                used.add(c[:3])
                negs.append(r.choice(_NEGATED).format(self.mention(c, right, generic=False)))
        if lateral_codes and (clear or r.random() < p.p_side_stated):
            side_line = f"Side: {'RIGHT' if right else 'LEFT'}"
        else:
            side_line = ""
        findings = list(dict.fromkeys(findings))
        pmh = list(dict.fromkeys(pmh))
        r.shuffle(findings)
        r.shuffle(pmh)
        title = {"chemotherapy": "Chemotherapy Day Unit Note", "cataract": "Operation Note"}.get(
            t.specialty, "Procedure Report")
        parts = [
            f"{title.upper()}\nPatient: {D}    MRN: {D}    Sex: {sex}\nDate of procedure: {D}\n"
            f"Department: {t.service}\nProceduralist: {D}",
            "Procedure:\n" + "\n".join(proc_lines) + (("\n" + side_line) if side_line else ""),
            "Indication:\n" + "; ".join(ind),
        ]
        if t.specialty == "chemotherapy":
            regimen = r.choice(_REGIMEN.get(dx[0], _REGIMEN["Z5111"]))
            parts.append(f"Regimen: {regimen}, cycle {r.randint(1, 8)} day 1. Pre-treatment labs reviewed: "
                         f"ANC {r.uniform(1.0, 6.0):.1f}, Hgb {r.uniform(8.5, 14.0):.1f}, Plt {r.randint(90, 400)}.")
        else:
            parts.append(r.choice(_SEDATION[t.specialty]) + " " + " ".join(r.sample(_TECHNIQUE[t.specialty], 2)))
        body = findings + [s[0].upper() + s[1:] + "." for s in negs]
        parts.append("Findings:\n" + ("\n".join(body) if body else "As above. No complications."))
        parts.append("Diagnosis:\n" + "\n".join(dict.fromkeys(diagnosis)))
        parts.append("Comorbidities:\n" + ("\n".join("- " + x for x in pmh) if pmh else "Nil of note."))
        parts.append("Plan:\n" + " ".join(r.sample(_PLAN[t.specialty], 2)))
        return "\n \n".join(parts) + "\n"
