"""Discharge summaries for synthetic admissions, in MIMIC-IV-Note's shape.

A note is assembled from pre-built phrases, never word by word: evidence sentences for the gold
codes (spread over Chief Complaint, HPI, Past Medical History, Brief Hospital Course and Discharge
Diagnosis, each mention worded specifically or generically), distractors (negated, historical,
family-history and uncoded mentions of other conditions) and filler sections (exam, results,
medications, instructions) sized so that note length follows the seed paper's Table 4.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from triage.synth.phrases import mention_forms
from triage.synth.profiles import COMMON_COMORBIDITIES, PROFILES
from triage.synth.vocab import icd10cm, icd10pcs

D = "___"   # MIMIC's de-identification span


@dataclass(frozen=True)
class NoteParams:
    """How much evidence notes carry and how long they are (defaults tuned to the seed paper)."""

    words_median: float = 1492.0
    words_log_sd: float = 0.36
    words_complexity_corr: float = 0.45
    note_words_scale: float = 1.0
    observation_words_scale: float = 0.3  # observation stays: a short discharge summary (~450 words)
    # Evidence and distractors, tuned so the baseline coder lands in the seed paper's micro-F1
    # range (0.45-0.65) at MIMIC-IV size: on 30,000 inpatient episodes a single fit scores
    # micro-F1 0.449 (0.429 with the previous 0.05/0.75/2.0/1.5/0.75), and F1 grows with N.
    p_no_evidence: float = 0.04          # gold secondary codes with no textual evidence at all
    p_specific: float = 0.9              # a mention uses the code's specific wording
    negated_per_note: float = 0.8        # Poisson means of distractor mentions
    historical_per_note: float = 1.0
    family_per_note: float = 1.0
    uncoded_per_note: float = 0.3        # conditions mentioned as present but not coded


NEGATED = ("no evidence of {}", "ruled out for {}", "{} was considered but felt unlikely",
           "negative workup for {}", "denies history of {}", "without signs of {}",
           "low suspicion for {}", "{} was ruled out")
HISTORICAL = ("history of {}, resolved", "remote history of {}", "{} many years ago, no recurrence",
              "prior {} treated in ___", "h/o {} (resolved)")
FAMILY = ("Mother with {}.", "Father had {}.", "Brother with {}.", "Sister with {}.",
          "Family history significant for {}.", "Maternal grandmother with {}.")
UNCODED = ("{}", "possible {}", "likely {}, outpatient follow-up", "mild {}")
COURSE_OPEN = ("# {}:", "#{}", "# {} -", "#. {}:")
COURSE_BODY = (
    "Patient was treated with ___ and monitored closely with improvement.",
    "Managed per primary team; labs trended and remained stable on discharge.",
    "Continued home regimen with dose adjustment; to follow up with PCP.",
    "Consulted ___ service who agreed with plan. Repleted as needed.",
    "Imaging obtained on ___ and reviewed with radiology.",
    "Started on IV therapy then transitioned to PO prior to discharge.",
    "Monitored on telemetry without events.",
    "Clinically improved over hospital course.",
)
CHRONIC_PREFIX = ("Chronic issues:", "CHRONIC ISSUES:", "Transitional issues / chronic:")
SYMPTOMS = ("shortness of breath", "chest pain", "fevers and chills", "abdominal pain", "weakness",
            "altered mental status", "fall", "nausea and vomiting", "dyspnea on exertion", "syncope",
            "leg swelling", "cough", "confusion", "bleeding", "back pain", "headache", "hip pain")


def _filler_bank(rng: random.Random) -> dict[str, list[str]]:
    """Section filler sentences with de-identified spans, numbers and common abbreviations."""
    labs = ("WBC", "RBC", "Hgb", "Hct", "MCV", "Plt", "Glucose", "UreaN", "Creat", "Na", "K", "Cl",
            "HCO3", "AnGap", "ALT", "AST", "AlkPhos", "TotBili", "Albumin", "Lactate", "INR(PT)",
            "PTT", "Calcium", "Phos", "Mg", "Trop-T", "proBNP", "CK-MB")
    bank: dict[str, list[str]] = {"exam": [], "results": [], "meds": [], "instructions": [], "course": []}
    for _ in range(400):
        picked = rng.sample(labs, 6)
        vals = " ".join(f"{lab}-{rng.uniform(0.5, 140):.1f}{rng.choice(['', '*', ''])}" for lab in picked)
        bank["results"].append(f"{D} 0{rng.randint(1, 9)}:{rng.randint(10, 59)}AM BLOOD {vals}")
    results_text = (
        "CXR: {} No focal consolidation. Mild pulmonary vascular congestion.",
        "CT abdomen/pelvis with contrast: {} No acute intra-abdominal process.",
        "ECHO: The left atrium is mildly dilated. LVEF {}%. No pericardial effusion.",
        "EKG: sinus rhythm at {} bpm, normal axis, no acute ST changes.",
        "Urine culture ({}): no growth to date.", "Blood cultures {} x2: pending at discharge.",
        "CT head without contrast: {} No acute intracranial hemorrhage.",
        "RUQ US: {} Patent vasculature. No biliary dilation.",
    )
    for _ in range(120):
        bank["results"].append(rng.choice(results_text).format(rng.choice([D, str(rng.randint(25, 70))])))
    exam = (
        "VS: T {:.1f} HR {} BP {}/{} RR {} O2 sat {}% RA", "GENERAL: NAD, alert and oriented x3.",
        "HEENT: NCAT, EOMI, MMM, oropharynx clear.", "NECK: supple, JVP not elevated.",
        "CV: RRR, normal S1 S2, no murmurs, rubs or gallops.",
        "LUNGS: clear to auscultation bilaterally, no wheezes, rales, rhonchi.",
        "ABDOMEN: soft, non-tender, non-distended, bowel sounds present.",
        "EXTREMITIES: warm, well perfused, no clubbing, cyanosis or edema.",
        "NEURO: CN II-XII intact, strength 5/5 throughout, sensation intact.",
        "SKIN: no rashes or lesions noted.", "PULSES: 2+ DP/PT bilaterally.",
        "GU: no foley, no CVA tenderness.",
    )
    for _ in range(300):
        s = rng.choice(exam)
        if "{" in s:
            s = s.format(rng.uniform(96.5, 101.5), rng.randint(55, 120), rng.randint(90, 170),
                         rng.randint(50, 95), rng.randint(12, 26), rng.randint(88, 100))
        bank["exam"].append(s)
    drugs = ("Metoprolol Succinate XL", "Atorvastatin", "Lisinopril", "Furosemide", "Pantoprazole",
             "Aspirin", "Apixaban", "Levothyroxine Sodium", "Sertraline", "Amlodipine", "Metformin",
             "Insulin Glargine", "Docusate Sodium", "Senna", "Acetaminophen", "Tamsulosin",
             "Gabapentin", "Omeprazole", "Polyethylene Glycol", "Carvedilol", "Warfarin",
             "Oxycodone (Immediate Release)", "Heparin", "Vitamin D", "Thiamine", "Folic Acid")
    for i, drug in enumerate(drugs):
        for dose in (5, 10, 20, 25, 40, 81, 100, 500):
            bank["meds"].append(
                f"{rng.randint(1, 20)}. {drug} {dose} mg PO {rng.choice(['DAILY', 'BID', 'TID', 'QHS', 'Q8H:PRN'])}")
    instr = (
        "Dear Mr./Ms. {}, It was a pleasure taking care of you at {}.",
        "Please take all of your medications as prescribed and keep your follow-up appointments.",
        "Weigh yourself every morning, call your doctor if weight goes up more than 3 lbs.",
        "Please return to the emergency department if you experience chest pain, shortness of breath, fevers, or any other concerning symptoms.",
        "You were seen by physical therapy who recommended {}.",
        "Your follow-up appointments are listed below.",
        "Do not drive or operate heavy machinery while taking pain medication.",
        "We wish you the best! Your {} Care Team",
        "Activity Status: Ambulatory - Independent. Mental Status: Clear and coherent.",
        "Level of Consciousness: Alert and interactive.",
    )
    for _ in range(200):
        bank["instructions"].append(rng.choice(instr).format(D, D))
    for _ in range(200):
        bank["course"].append(rng.choice(COURSE_BODY).replace("___", D))
    return bank


def _paragraphs(bank: dict[str, list[str]], rng: random.Random, n: int = 600,
                size: int = 4) -> dict[str, list[str]]:
    """Pre-joined runs of filler sentences, so a note picks a few paragraphs, not many sentences."""
    return {k: ["\n".join(rng.choice(v) for _ in range(size)) for _ in range(n)] for k, v in bank.items()}


class NoteWriter:
    """Writes notes for one cohort; deterministic for a seed (its own random.Random stream)."""

    def __init__(self, seed: int, params: NoteParams | None = None):
        self.params = params or NoteParams()
        self.rng = random.Random(seed * 1_000_003 + 17)
        self.bank = _paragraphs(_filler_bank(random.Random(seed)), random.Random(seed + 1))
        self.bank_avg = {k: float(np.mean([len(s.split()) for s in v])) for k, v in self.bank.items()}
        cm, pcs = icd10cm(), icd10pcs()
        self._cm_titles = dict(zip(cm.codes.tolist(), cm.titles.tolist()))
        self._cm_parent = dict(zip(cm.codes.tolist(), cm.parent_titles.tolist()))
        self._pcs_titles = dict(zip(pcs.codes.tolist(), pcs.titles.tolist()))
        self._forms: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        head: list[str] = []
        for pr in PROFILES:
            head += [c for c, _ in pr.principal] + [c for c, _ in pr.secondary]
        head += [c for c, *_ in COMMON_COMORBIDITIES]
        self.distractor_pool = list(dict.fromkeys(head))

    def forms(self, code: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        f = self._forms.get(code)
        if f is None:
            if code in self._cm_titles:
                f = mention_forms(code, self._cm_titles[code], self._cm_parent.get(code, ""))
            else:
                title = self._pcs_titles.get(code, code)
                short = title.split(",")[0].lower()
                f = ((title.lower(),), (short,))
            self._forms[code] = f
        return f

    def mention(self, code: str) -> str:
        specific, generic = self.forms(code)
        pool = specific if self.rng.random() < self.params.p_specific else generic
        return pool[int(self.rng.random() * len(pool))]

    def target_words(self, complexity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = self.params
        c = p.words_complexity_corr
        noise = c * complexity + np.sqrt(1 - c * c) * rng.standard_normal(len(complexity))
        return p.words_median * p.note_words_scale * np.exp(p.words_log_sd * noise)

    def _filler(self, section: str, words: float) -> str:
        if words <= 0:
            return ""
        bank = self.bank[section]
        k = max(1, int(round(words / self.bank_avg[section])))
        rand = self.rng.random
        n = len(bank)
        return "\n".join([bank[int(rand() * n)] for _ in range(k)])

    def distractor_counts(self, n_codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Per note: numbers of negated, historical, family-history and uncoded mentions.

        Means are per typical (15-code) episode and scale with the episode's code count: a simple
        admission's short note has few ruled-out conditions, which keeps simple subsets tractable.
        """
        p = self.params
        lam = np.array([p.negated_per_note, p.historical_per_note, p.family_per_note, p.uncoded_per_note])
        scale = np.clip(np.asarray(n_codes, dtype=float) / 15.0, 0.1, 2.0)
        return rng.poisson(scale[:, None] * lam[None, :])

    def write(self, dx: list[str], px: list[str], sex: str, died: bool, service: str,
              target_words: float, distractors: tuple[int, int, int, int] = (0, 0, 0, 0)) -> str:
        """One discharge summary for an admission's gold codes."""
        r, p = self.rng, self.params
        evid_course: list[str] = []
        dx_lines: list[str] = []
        pmh: list[str] = []
        hpi_bits: list[str] = []
        chronic: list[str] = []
        principal = dx[0] if dx else None
        if principal:
            dx_lines.append(self.mention(principal))
            hpi_bits.append(self.mention(principal))
            evid_course.append(r.choice(COURSE_OPEN).format(self.mention(principal)))
            evid_course.append(r.choice(COURSE_BODY))
        for code in dx[1:]:
            if r.random() < p.p_no_evidence:
                continue
            placed = False
            if r.random() < 0.5:
                dx_lines.append(self.mention(code))
                placed = True
            if r.random() < 0.35:
                evid_course.append(r.choice(COURSE_OPEN).format(self.mention(code)))
                evid_course.append(r.choice(COURSE_BODY))
                placed = True
            if r.random() < 0.35:
                pmh.append(self.mention(code))
                placed = True
            if not placed or r.random() < 0.2:
                chronic.append(self.mention(code))
        gold = set(dx)
        pool = self.distractor_pool

        def others(k: int) -> list[str]:
            out = []
            for _ in range(k):
                c = pool[int(r.random() * len(pool))]
                if c not in gold:
                    out.append(self.mention(c))
            return out

        k_neg, k_hist, k_fam, k_unc = distractors
        negated = [r.choice(NEGATED).format(m) for m in others(k_neg)]
        historical = [r.choice(HISTORICAL).format(m) for m in others(k_hist)]
        family = [r.choice(FAMILY).format(m) for m in others(k_fam)]
        uncoded = [r.choice(UNCODED).format(m) for m in others(k_unc)]
        pmh_all = pmh + uncoded + historical
        r.shuffle(pmh_all)

        proc_lines = [self.mention(c) for c in px if r.random() < 0.7]
        age_word = D
        cc = hpi_bits[0] if hpi_bits and r.random() < 0.5 else r.choice(SYMPTOMS)
        hpi = (f"Mr./Ms. {D} is a {age_word} year old {'woman' if sex == 'F' else 'man'} with "
               f"{', '.join(pmh[:4]) or 'no significant past history'} who presents with "
               f"{r.choice(SYMPTOMS)}. {('Found to have ' + hpi_bits[0] + '.') if hpi_bits else ''} "
               f"In the ED, initial vitals were notable for {D}. "
               + (" ".join(s[0].upper() + s[1:] + "." for s in negated[:2])))
        course_extra = "\n".join(s[0].upper() + s[1:] + "." for s in negated[2:])
        disposition = "Expired" if died else r.choice(("Home", "Home With Service", "Extended Care", "Home"))
        head = (f"Name:  {D}                     Unit No:   {D}\n \nAdmission Date:  {D}              "
                f"Discharge Date:   {D}\n \nDate of Birth:  {D}             Sex:   {sex}\n \n"
                f"Service: {service}\n \nAllergies: \n{r.choice(('No Known Allergies / Adverse Drug Reactions', 'Penicillins', 'Sulfa (Sulfonamide Antibiotics)', 'lisinopril'))}\n \n"
                f"Attending: {D}.\n \n")
        # evidence words are known only after assembly; filler makes up the rest of the target length
        body_core = [
            "Chief Complaint:\n" + cc,
            "Major Surgical or Invasive Procedure:\n" + ("\n".join(proc_lines) if proc_lines else "None"),
            "History of Present Illness:\n" + hpi,
            "Past Medical History:\n" + ("\n".join("- " + x for x in pmh_all) or "None"),
            "Social History:\n" + D,
            "Family History:\n" + (" ".join(family) if family else "Non-contributory."),
        ]
        tail_core = [
            "Discharge Disposition:\n" + disposition,
            "Discharge Diagnosis:\n" + "Primary:\n" + (dx_lines[0] if dx_lines else D)
            + ("\n \nSecondary:\n" + "\n".join(dx_lines[1:]) if len(dx_lines) > 1 else ""),
            "Discharge Condition:\n" + r.choice(("Mental Status: Clear and coherent.", "Mental Status: Confused - sometimes."))
            + "\nLevel of Consciousness: Alert and interactive.",
        ]
        course_core = "\n".join(evid_course) + ("\n" + r.choice(CHRONIC_PREFIX) + "\n" + "\n".join("- " + c for c in chronic) if chronic else "")
        core_words = sum(len(s.split()) for s in body_core + tail_core) + len(course_core.split()) + len(head.split())
        room = target_words - core_words
        exam = self._filler("exam", room * 0.15)
        results = self._filler("results", room * 0.35)
        course_fill = self._filler("course", room * 0.12)
        meds = self._filler("meds", room * 0.2)
        instr = self._filler("instructions", room * 0.18)
        parts = [head] + body_core + [
            "Physical Exam:\n" + (exam or "Deferred"),
            "Pertinent Results:\n" + (results or D),
            "Brief Hospital Course:\n" + course_core + ("\n" + course_extra if course_extra else "")
            + ("\n" + course_fill if course_fill else ""),
            "Medications on Admission:\n" + "The Preadmission Medication list is accurate and complete.",
            "Discharge Medications:\n" + (meds or "None"),
        ] + tail_core + [
            "Discharge Instructions:\n" + (instr or D),
            "Followup Instructions:\n" + D,
        ]
        return "\n \n".join(parts) + "\n"
