"""How clinicians write the conditions behind codes: paraphrases, abbreviations, shared forms.

A code's *mention forms* mix specific wording (its official title, a paraphrase) with generic
wording shared by its siblings ("CHF" for every I50.x): a note that says only "CHF" does not tell
systolic from diastolic, which is how real notes make 4th/5th-character coding hard.
"""

from __future__ import annotations

import re

#: Forms shared by every code whose undotted code starts with the prefix (longest prefix wins).
PREFIX_FORMS: dict[str, tuple[str, ...]] = {
    "I50": ("CHF", "heart failure", "CHF exacerbation", "volume overload from heart failure"),
    "I11": ("hypertensive heart disease", "HTN with CHF"),
    "I13": ("hypertensive heart and kidney disease", "HTN, CHF and CKD"),
    "I12": ("hypertensive CKD", "HTN-related kidney disease"),
    "N18": ("CKD", "chronic kidney disease", "chronic renal insufficiency"),
    "I48": ("AFib", "atrial fibrillation", "afib"),
    "A41": ("sepsis", "septicemia", "urosepsis/sepsis"),
    "R65": ("severe sepsis", "sepsis with organ dysfunction"),
    "J18": ("pneumonia", "PNA", "CAP"),
    "J15": ("bacterial pneumonia", "PNA"),
    "J44": ("COPD", "chronic obstructive pulmonary disease", "emphysema"),
    "J96": ("respiratory failure", "hypoxemic respiratory failure", "resp failure"),
    "I21": ("MI", "myocardial infarction", "ACS"),
    "I25": ("CAD", "coronary artery disease"),
    "I63": ("stroke", "CVA", "ischemic stroke", "acute infarct on MRI"),
    "I61": ("ICH", "intracerebral hemorrhage", "intraparenchymal bleed"),
    "K92": ("GI bleed", "GIB", "gastrointestinal bleeding"),
    "K70": ("alcoholic liver disease", "EtOH cirrhosis"),
    "K74": ("cirrhosis", "ESLD"),
    "F10": ("EtOH use disorder", "alcohol abuse", "alcohol use disorder", "EtOH withdrawal"),
    "E11": ("DM2", "T2DM", "type 2 diabetes", "diabetes mellitus type II", "NIDDM"),
    "E10": ("DM1", "T1DM", "type 1 diabetes"),
    "N17": ("AKI", "acute kidney injury", "acute renal failure", "ARF"),
    "N39": ("UTI", "urinary tract infection"),
    "L03": ("cellulitis", "skin and soft tissue infection"),
    "S72": ("hip fracture", "femoral neck fracture", "hip fx"),
    "K85": ("pancreatitis", "acute pancreatitis"),
    "K80": ("gallstones", "cholelithiasis", "biliary colic"),
    "K56": ("SBO", "small bowel obstruction", "bowel obstruction"),
    "C34": ("lung cancer", "NSCLC", "lung mass"),
    "C78": ("metastatic disease", "mets"),
    "C79": ("metastatic disease", "mets"),
    "I26": ("PE", "pulmonary embolism"),
    "I82": ("DVT", "deep vein thrombosis", "VTE"),
    "G40": ("seizure disorder", "epilepsy", "seizures"),
    "F32": ("depression", "MDD"),
    "F33": ("depression", "MDD", "recurrent depression"),
    "E87": ("electrolyte abnormality", "lytes derangement"),
    "M17": ("knee OA", "osteoarthritis of the knee", "DJD knee"),
    "M16": ("hip OA", "osteoarthritis of the hip", "DJD hip"),
    "Z79": ("home medication",),
    "Y92": ("at home", "occurred at residence"),
    "W19": ("mechanical fall", "fall"),
    "W01": ("slip and fall", "fall"),
}

#: Code-specific paraphrases and abbreviations (in addition to the official title).
CODE_FORMS: dict[str, tuple[str, ...]] = {
    "I10": ("HTN", "hypertension", "essential hypertension", "high blood pressure"),
    "E785": ("HLD", "hyperlipidemia", "dyslipidemia", "high cholesterol"),
    "Z87891": ("former smoker", "remote tobacco use", "quit smoking", "ex-smoker"),
    "K219": ("GERD", "reflux", "acid reflux"),
    "F329": ("depression", "MDD"),
    "F419": ("anxiety", "anxiety disorder", "GAD"),
    "I2510": ("CAD", "coronary artery disease", "CAD s/p stenting"),
    "E039": ("hypothyroidism", "hypothyroid on levothyroxine"),
    "E119": ("DM2", "T2DM", "type 2 diabetes", "diet-controlled diabetes"),
    "G4733": ("OSA", "obstructive sleep apnea", "OSA on CPAP"),
    "D649": ("anemia", "chronic anemia"),
    "E669": ("obesity", "obese"),
    "Z66": ("DNR", "DNR/DNI", "do not resuscitate"),
    "Z7901": ("on warfarin", "on apixaban", "anticoagulated", "on Coumadin"),
    "Z794": ("on insulin", "insulin-dependent", "on glargine"),
    "Z7902": ("on aspirin", "on clopidogrel", "on Plavix"),
    "Z7984": ("on metformin", "on oral hypoglycemics"),
    "F17210": ("active smoker", "smokes 1 ppd", "current tobacco use", "cigarette smoker"),
    "N400": ("BPH", "benign prostatic hyperplasia"),
    "M810": ("osteoporosis",),
    "I4891": ("AFib", "atrial fibrillation", "afib", "AF"),
    "I480": ("paroxysmal AFib", "pAF", "paroxysmal atrial fibrillation"),
    "N179": ("AKI", "acute kidney injury", "ARF", "Cr bump"),
    "I5023": ("acute on chronic systolic CHF", "acute on chronic HFrEF", "HFrEF exacerbation"),
    "I5033": ("acute on chronic diastolic CHF", "acute on chronic HFpEF", "HFpEF exacerbation"),
    "I5043": ("acute on chronic combined CHF",),
    "I5022": ("chronic systolic CHF", "HFrEF"),
    "I5032": ("chronic diastolic CHF", "HFpEF"),
    "I5021": ("acute systolic heart failure", "new HFrEF"),
    "I5031": ("acute diastolic heart failure", "new HFpEF"),
    "I509": ("CHF", "heart failure"),
    "I130": ("HTN with CHF and CKD",),
    "I110": ("hypertensive heart disease with CHF",),
    "N1830": ("CKD 3", "CKD stage III", "CKD stage 3"),
    "N1832": ("CKD 3b", "CKD stage IIIb"),
    "N184": ("CKD 4", "CKD stage IV"),
    "N186": ("ESRD", "end-stage renal disease", "ESRD on HD"),
    "Z992": ("on hemodialysis", "HD dependent", "on HD MWF"),
    "A419": ("sepsis", "septic"),
    "R6520": ("severe sepsis",),
    "R6521": ("septic shock", "shock requiring pressors"),
    "B9620": ("E. coli", "E coli bacteremia"),
    "J189": ("pneumonia", "PNA", "CAP", "multifocal pneumonia"),
    "J690": ("aspiration pneumonia", "aspiration PNA"),
    "J9601": ("hypoxic respiratory failure", "acute hypoxemic respiratory failure", "AHRF"),
    "J441": ("COPD exacerbation", "COPD flare", "AECOPD"),
    "J449": ("COPD", "emphysema"),
    "I214": ("NSTEMI", "non-ST elevation MI", "type 1 NSTEMI"),
    "I2109": ("STEMI", "anterior STEMI"),
    "I639": ("stroke", "CVA", "acute ischemic stroke"),
    "G459": ("TIA", "transient ischemic attack"),
    "K922": ("GI bleed", "GIB", "GI hemorrhage"),
    "K921": ("melena", "black stools"),
    "K920": ("hematemesis", "coffee-ground emesis"),
    "D62": ("acute blood loss anemia", "ABLA", "Hgb drop"),
    "F10239": ("EtOH withdrawal", "alcohol withdrawal"),
    "F10231": ("withdrawal seizures with delirium", "DTs", "delirium tremens"),
    "F1020": ("EtOH abuse", "alcohol use disorder", "alcoholism"),
    "E8342": ("hypomagnesemia", "low Mg"),
    "E876": ("hypokalemia", "low K"),
    "E875": ("hyperkalemia", "high K"),
    "E871": ("hyponatremia", "low Na", "hyponatremic"),
    "E860": ("dehydration", "hypovolemia", "volume depletion"),
    "G9341": ("metabolic encephalopathy", "toxic-metabolic encephalopathy", "AMS"),
    "R4182": ("altered mental status", "AMS", "confusion"),
    "K766": ("portal hypertension", "portal HTN"),
    "R188": ("ascites",),
    "E1110": ("DKA", "diabetic ketoacidosis"),
    "E1010": ("DKA", "diabetic ketoacidosis in T1DM"),
    "E1165": ("uncontrolled DM2 with hyperglycemia", "hyperglycemia"),
    "E1122": ("diabetic nephropathy", "DM2 with CKD"),
    "E1142": ("diabetic neuropathy", "peripheral neuropathy from DM"),
    "N390": ("UTI", "urinary tract infection", "cystitis"),
    "N10": ("pyelonephritis", "pyelo"),
    "R55": ("syncope", "syncopal episode", "passed out"),
    "R079": ("chest pain", "atypical chest pain"),
    "K8590": ("acute pancreatitis", "pancreatitis"),
    "K8000": ("acute cholecystitis", "cholecystitis with gallstones"),
    "K3580": ("appendicitis", "acute appendicitis"),
    "K56609": ("SBO", "small bowel obstruction"),
    "I2699": ("PE", "pulmonary embolism", "segmental PE"),
    "I82409": ("DVT", "lower extremity DVT"),
    "Z86718": ("history of DVT", "prior VTE"),
    "G40909": ("seizure disorder", "epilepsy"),
    "R569": ("seizure", "new-onset seizure"),
    "U071": ("COVID-19", "COVID", "SARS-CoV-2 infection"),
    "J1282": ("COVID pneumonia", "COVID-19 pneumonia"),
    "W19XXXA": ("fall", "mechanical fall", "found down"),
    "Y92009": ("fall at home",),
    "S065X0A": ("SDH", "subdural hematoma"),
    "C3490": ("lung cancer", "NSCLC"),
    "C787": ("liver mets", "hepatic metastases"),
    "C7931": ("brain mets", "brain metastases"),
    "C7951": ("bone mets", "osseous metastases"),
    "G893": ("cancer pain", "neoplasm-related pain"),
    "D6481": ("anemia due to chemotherapy",),
    "D701": ("neutropenia after chemo", "chemo-induced neutropenia"),
    "D696": ("thrombocytopenia", "low platelets"),
    "M1711": ("right knee OA", "R knee osteoarthritis"),
    "M1712": ("left knee OA", "L knee osteoarthritis"),
    "M1611": ("right hip OA", "R hip DJD"),
    "M1612": ("left hip OA", "L hip DJD"),
    "Z955": ("s/p PCI", "history of coronary stent", "prior DES"),
    "Z951": ("s/p CABG", "history of CABG"),
    "Z8673": ("history of stroke", "prior CVA"),
    "Z23": ("received flu vaccine", "influenza vaccine given"),
    "Z20822": ("COVID rule-out", "COVID exposure"),
    "O80": ("uncomplicated SVD", "normal spontaneous vaginal delivery", "NSVD"),
    "Z370": ("single liveborn", "healthy infant delivered"),
    "B20": ("HIV", "AIDS", "HIV/AIDS"),
    "R45851": ("suicidal ideation", "SI"),
    "F332": ("severe MDD", "recurrent severe depression"),
    "F209": ("schizophrenia",),
    "J45909": ("asthma",),
    "M109": ("gout",),
    "G629": ("peripheral neuropathy", "neuropathy"),
    "E559": ("vitamin D deficiency", "low vit D"),
    "D631": ("anemia of CKD", "anemia of chronic kidney disease"),
    "N2581": ("secondary hyperparathyroidism",),
    "Z9181": ("history of falls", "frequent falls"),
    "I129": ("hypertensive CKD",),
    "I120": ("hypertensive ESRD",),
}

_SPLIT = re.compile(r",| with | without | due to | in diseases classified elsewhere| as the cause")


def _simplify(title: str) -> str:
    """Shorten an official title to the wording a clinician might write (drops qualifiers)."""
    head = _SPLIT.split(title, maxsplit=1)[0].strip()
    head = re.sub(r"\[.*?\]|\(.*?\)", "", head)
    return re.sub(r"\s+", " ", head).strip().lower() or title.lower()


def _prefix_forms(code: str) -> tuple[str, ...]:
    for n in (4, 3):
        if code[:n] in PREFIX_FORMS:
            return PREFIX_FORMS[code[:n]]
    return ()


def mention_forms(code: str, title: str, parent_title: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(specific forms, generic forms) for one code.

    Specific forms identify the code (official title, hand-written paraphrase); generic forms are
    shared with siblings (category wording, abbreviations of the whole family).
    """
    specific = [title.lower()] + list(CODE_FORMS.get(code, ()))
    generic = list(_prefix_forms(code)) + [_simplify(title), parent_title.lower()]
    generic = [g for g in dict.fromkeys(generic) if g not in specific] or [_simplify(title)]
    return tuple(dict.fromkeys(specific)), tuple(generic)
