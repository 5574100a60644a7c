"""Generate the shipped synthetic bodies directory, `directory.yaml`, next to this file.

Run `python algorithms/data/make_directory.py` after changing anything below and commit the result.
The output is deterministic: the same script always writes the same file.

Id scheme (also stated in the YAML header):
- a regional body is `<region code, lower case>.<type>`, e.g. `kz-75.police`, `kz-75.akimat`;
- a school is `<region code, lower case>.school-<n>`, e.g. `kz-75.school-1`;
- a ministry and the Government Office use their type as id, e.g. `ministry_education`;
- any other executor of the plan is `republic.<transliterated decree code>`, e.g. `republic.mchs`.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

OUTPUT = Path(__file__).with_name("directory.yaml")
SCHOOLS_PER_REGION = 3

# code: (kk, ru, en, ru genitive "of the region", kk genitive, dominant language or None for both)
REGIONS: dict[str, tuple[str, str, str, str, str, str | None]] = {
    "KZ-10": ("Абай облысы", "область Абай", "Abai Region",
              "области Абай", "Абай облысының", None),
    "KZ-11": ("Ақмола облысы", "Акмолинская область", "Akmola Region",
              "Акмолинской области", "Ақмола облысының", None),
    "KZ-15": ("Ақтөбе облысы", "Актюбинская область", "Aktobe Region",
              "Актюбинской области", "Ақтөбе облысының", "kk"),
    "KZ-19": ("Алматы облысы", "Алматинская область", "Almaty Region",
              "Алматинской области", "Алматы облысының", "kk"),
    "KZ-23": ("Атырау облысы", "Атырауская область", "Atyrau Region",
              "Атырауской области", "Атырау облысының", "kk"),
    "KZ-27": ("Батыс Қазақстан облысы", "Западно-Казахстанская область", "West Kazakhstan Region",
              "Западно-Казахстанской области", "Батыс Қазақстан облысының", None),
    "KZ-31": ("Жамбыл облысы", "Жамбылская область", "Zhambyl Region",
              "Жамбылской области", "Жамбыл облысының", "kk"),
    "KZ-33": ("Жетісу облысы", "область Жетісу", "Zhetisu Region",
              "области Жетісу", "Жетісу облысының", "kk"),
    "KZ-35": ("Қарағанды облысы", "Карагандинская область", "Karaganda Region",
              "Карагандинской области", "Қарағанды облысының", "ru"),
    "KZ-39": ("Қостанай облысы", "Костанайская область", "Kostanay Region",
              "Костанайской области", "Қостанай облысының", "ru"),
    "KZ-43": ("Қызылорда облысы", "Кызылординская область", "Kyzylorda Region",
              "Кызылординской области", "Қызылорда облысының", "kk"),
    "KZ-47": ("Маңғыстау облысы", "Мангистауская область", "Mangystau Region",
              "Мангистауской области", "Маңғыстау облысының", "kk"),
    "KZ-55": ("Павлодар облысы", "Павлодарская область", "Pavlodar Region",
              "Павлодарской области", "Павлодар облысының", "ru"),
    "KZ-59": ("Солтүстік Қазақстан облысы", "Северо-Казахстанская область", "North Kazakhstan Region",
              "Северо-Казахстанской области", "Солтүстік Қазақстан облысының", "ru"),
    "KZ-61": ("Түркістан облысы", "Туркестанская область", "Turkistan Region",
              "Туркестанской области", "Түркістан облысының", "kk"),
    "KZ-62": ("Ұлытау облысы", "область Ұлытау", "Ulytau Region",
              "области Ұлытау", "Ұлытау облысының", None),
    "KZ-63": ("Шығыс Қазақстан облысы", "Восточно-Казахстанская область", "East Kazakhstan Region",
              "Восточно-Казахстанской области", "Шығыс Қазақстан облысының", "ru"),
    "KZ-71": ("Астана қаласы", "город Астана", "Astana",
              "города Астаны", "Астана қаласының", None),
    "KZ-75": ("Алматы қаласы", "город Алматы", "Almaty",
              "города Алматы", "Алматы қаласының", None),
    "KZ-79": ("Шымкент қаласы", "город Шымкент", "Shymkent",
              "города Шымкента", "Шымкент қаласының", "kk"),
}

# type: (kk suffix after the kk genitive, ru prefix before the ru genitive, ru "synthetic" marker,
#        en prefix before "of <region>")
REGIONAL_NAMES: dict[str, tuple[str, str, str, str]] = {
    "education_department": ("білім басқармасы", "Управление образования", "синтетическое",
                             "Education Department"),
    "guardianship": ("қорғаншылық және қамқоршылық бөлімі", "Отдел опеки и попечительства",
                     "синтетический", "Guardianship and Custody Office"),
    "police": ("полиция департаменті", "Департамент полиции", "синтетический", "Police Department"),
    "health": ("көпбейінді балалар ауруханасы", "Многопрофильная детская больница", "синтетическая",
               "Children's Multidisciplinary Hospital"),
    "psych_center": ("психологиялық қолдау орталығы", "Центр психологической поддержки",
                     "синтетический", "Psychological Support Centre"),
    "social_services": ("отбасын қолдау орталығы", "Центр поддержки семьи", "синтетический",
                        "Family Support Centre"),
    "kdn": ("кәмелетке толмағандардың істері және олардың құқықтарын қорғау жөніндегі комиссиясы",
            "Комиссия по делам несовершеннолетних и защите их прав", "синтетическая",
            "Commission on Minors' Affairs and Protection of Their Rights"),
    "consilium": ("психологиялық-педагогикалық консилиумы", "Психолого-педагогический консилиум",
                  "синтетический", "Psychological-Pedagogical Consilium"),
    "interagency_group": ("кәмелетке толмағандар суицидінің алдын алу жөніндегі ведомствоаралық тобы",
                          "Межведомственная группа по профилактике суицидов несовершеннолетних",
                          "синтетическая", "Interagency Group on Suicide Prevention among Minors"),
    "hotline": ("111/150 сенім телефонының өңірлік қызметі", "Региональная служба телефонов доверия 111/150",
                "синтетическая", "Regional Helpline Service 111/150"),
    "akimat": ("әкімдігі", "Акимат", "синтетический", "Akimat"),
    "health_department": ("денсаулық сақтау басқармасы", "Управление здравоохранения", "синтетическое",
                          "Health Department"),
    "social_department": ("жұмыспен қамтуды үйлестіру және әлеуметтік бағдарламалар басқармасы",
                          "Управление координации занятости и социальных программ", "синтетическое",
                          "Department of Employment Coordination and Social Programmes"),
}

# The region's supervisor of each regional type; anything else answers to the republic body whose id
# equals the parent type.
# (version 2 of the algorithms, rule C1: escalation follows the line of subordination).
REGIONAL_PARENT = {
    "education_department": "ministry_education", "guardianship": "education_department",
    "police": "ministry_interior", "health": "health_department", "psych_center": "education_department",
    "social_services": "social_department", "kdn": "akimat", "consilium": "education_department",
    "interagency_group": "akimat", "hotline": "ministry_education", "akimat": "government_office",
    "health_department": "ministry_health", "social_department": "ministry_labour",
}

# n: (kk kind, ru kind, en kind, language) — school 1 teaches in Kazakh, 2 in Russian, 3 in both.
SCHOOL_KINDS = {
    1: ("мектеп-гимназиясы", "Школа-гимназия", "School-Gymnasium", "kk"),
    2: ("жалпы білім беретін мектебі", "Общеобразовательная школа", "Secondary School", "ru"),
    3: ("мектеп-лицейі", "Школа-лицей", "School-Lyceum", None),
}

# (id, type, decree code, kk, ru, en). Ministry and Government Office names are the real public ones.
REPUBLIC_BODIES: list[tuple[str, str, str | None, str, str, str]] = [
    ("government_office", "government_office", None,
     "Қазақстан Республикасы Үкіметінің Аппараты", "Аппарат Правительства Республики Казахстан",
     "Office of the Government of the Republic of Kazakhstan"),
    ("ministry_education", "ministry_education", "МП",
     "Қазақстан Республикасының Оқу-ағарту министрлігі", "Министерство просвещения Республики Казахстан",
     "Ministry of Education of the Republic of Kazakhstan"),
    ("ministry_health", "ministry_health", "МЗ",
     "Қазақстан Республикасының Денсаулық сақтау министрлігі",
     "Министерство здравоохранения Республики Казахстан",
     "Ministry of Health of the Republic of Kazakhstan"),
    ("ministry_interior", "ministry_interior", "МВД",
     "Қазақстан Республикасының Ішкі істер министрлігі", "Министерство внутренних дел Республики Казахстан",
     "Ministry of Internal Affairs of the Republic of Kazakhstan"),
    ("ministry_labour", "ministry_labour", "МТСЗН",
     "Қазақстан Республикасының Еңбек және халықты әлеуметтік қорғау министрлігі",
     "Министерство труда и социальной защиты населения Республики Казахстан",
     "Ministry of Labour and Social Protection of the Population of the Republic of Kazakhstan"),
    ("republic.mior", "republic_body", "МИОР",
     "Қазақстан Республикасының Ақпарат және қоғамдық даму министрлігі",
     "Министерство информации и общественного развития Республики Казахстан",
     "Ministry of Information and Social Development of the Republic of Kazakhstan"),
    ("republic.gp", "republic_body", "ГП",
     "Қазақстан Республикасының Бас прокуратурасы", "Генеральная прокуратура Республики Казахстан",
     "Prosecutor General's Office of the Republic of Kazakhstan"),
    ("republic.mnvo", "republic_body", "МНВО",
     "Қазақстан Республикасының Ғылым және жоғары білім министрлігі",
     "Министерство науки и высшего образования Республики Казахстан",
     "Ministry of Science and Higher Education of the Republic of Kazakhstan"),
    ("republic.miir", "republic_body", "МИИР",
     "Қазақстан Республикасының Индустрия және инфрақұрылымдық даму министрлігі",
     "Министерство индустрии и инфраструктурного развития Республики Казахстан",
     "Ministry of Industry and Infrastructural Development of the Republic of Kazakhstan"),
    ("republic.mo", "republic_body", "МО",
     "Қазақстан Республикасының Қорғаныс министрлігі", "Министерство обороны Республики Казахстан",
     "Ministry of Defence of the Republic of Kazakhstan"),
    ("republic.kpsisu", "republic_body", "КПСиСУ",
     "Қазақстан Республикасы Бас прокуратурасының Құқықтық статистика және арнайы есепке алу жөніндегі "
     "комитеті",
     "Комитет по правовой статистике и специальным учетам Генеральной прокуратуры Республики Казахстан",
     "Committee on Legal Statistics and Special Records of the Prosecutor General's Office"),
    ("republic.mks", "republic_body", "МКС",
     "Қазақстан Республикасының Мәдениет және спорт министрлігі",
     "Министерство культуры и спорта Республики Казахстан",
     "Ministry of Culture and Sports of the Republic of Kazakhstan"),
    ("republic.sa", "republic_body", "СА",
     "Қазақстан Республикасының Сот әкімшілігі", "Судебная администрация Республики Казахстан",
     "Judicial Administration of the Republic of Kazakhstan"),
    ("republic.mchs", "republic_body", "МЧС",
     "Қазақстан Республикасының Төтенше жағдайлар министрлігі",
     "Министерство по чрезвычайным ситуациям Республики Казахстан",
     "Ministry of Emergency Situations of the Republic of Kazakhstan"),
    ("republic.mne", "republic_body", "МНЭ",
     "Қазақстан Республикасының Ұлттық экономика министрлігі",
     "Министерство национальной экономики Республики Казахстан",
     "Ministry of National Economy of the Republic of Kazakhstan"),
    ("republic.mtsriap", "republic_body", "МЦРИАП",
     "Қазақстан Республикасының Цифрлық даму, инновациялар және аэроғарыш өнеркәсібі министрлігі",
     "Министерство цифрового развития, инноваций и аэрокосмической промышленности Республики Казахстан",
     "Ministry of Digital Development, Innovations and Aerospace Industry of the Republic of Kazakhstan"),
    ("republic.mt", "republic_body", "МТ",
     "Қазақстан Республикасының Көлік министрлігі", "Министерство транспорта Республики Казахстан",
     "Ministry of Transport of the Republic of Kazakhstan"),
    ("republic.mki", "republic_body", "МКИ",
     "Қазақстан Республикасының Мәдениет және ақпарат министрлігі",
     "Министерство культуры и информации Республики Казахстан",
     "Ministry of Culture and Information of the Republic of Kazakhstan"),
    ("republic.mps", "republic_body", "МПС",
     "Қазақстан Республикасының Өнеркәсіп және құрылыс министрлігі",
     "Министерство промышленности и строительства Республики Казахстан",
     "Ministry of Industry and Construction of the Republic of Kazakhstan"),
    ("republic.mts", "republic_body", "МТС",
     "Қазақстан Республикасының Туризм және спорт министрлігі",
     "Министерство туризма и спорта Республики Казахстан",
     "Ministry of Tourism and Sports of the Republic of Kazakhstan"),
]

HEADER = """\
# Qorgau bodies directory: SYNTHETIC DATA for development, tests and demos.
# Generated by algorithms/data/make_directory.py; edit that script and re-run it, not this file.
# A deployment replaces this file with its own (set QORGAU_DIRECTORY to its path).
#
# regions: the 20 first-level units by ISO 3166-2:KZ code, names in kk/ru/en.
# bodies: every organisation that receives tasks (spec README, "Bodies"):
#   id        stable readable slug:
#               <region code, lower case>.<type>      one body of each regional type, e.g. kz-75.police
#               <region code, lower case>.school-<n>  schools, e.g. kz-75.school-1 (n = 1..3)
#               <type>                                ministries and the Government Office,
#                                                     e.g. ministry_education, government_office
#               republic.<transliterated code>        other executors of the plan, e.g. republic.mchs
#   type      one of the fixed body types
#   region    ISO 3166-2:KZ code; null for republic-level bodies
#   parent    supervisor for escalations (the region's body of the parent type, or the ministry /
#             Government Office); null at the republic level
#   code      decree abbreviation (МП, МЗ, МВД, МТСЗН, МЧС, ...) for republic-level bodies. МИО (local
#             executive bodies) means every region's akimat; МБ and РБ are budgets, not bodies.
#   name      kk/ru/en; regional names are invented and marked synthetic; no real people anywhere
#   language  preferred language of notifications: kk, ru, or null for both
#   channels  notification channels (apprise-style URLs); empty here, a deployment fills them in
"""


def regional_body(region: str, body_type: str) -> dict[str, Any]:
    """One body of a regional type in `region`, supervised as the spec's parent-type table says."""
    kk_region, _, en_region, ru_gen, kk_gen, language = REGIONS[region]
    kk, ru, marker, en = REGIONAL_NAMES[body_type]
    parent_type = REGIONAL_PARENT[body_type]
    parent = f"{region.lower()}.{parent_type}" if parent_type in REGIONAL_PARENT else parent_type
    return {
        "id": f"{region.lower()}.{body_type}",
        "type": body_type,
        "region": region,
        "parent": parent,
        "name": {"kk": f"{kk_gen} {kk} (синтетикалық)", "ru": f"{ru} {ru_gen} ({marker})",
                 "en": f"{en} of {en_region} (synthetic)"},
        "language": language,
        "channels": [],
    }


def school(region: str, number: int) -> dict[str, Any]:
    """School number `number` of `region`; its language comes from its kind, not the region."""
    _, _, en_region, ru_gen, kk_gen, _ = REGIONS[region]
    kk, ru, en, language = SCHOOL_KINDS[number]
    return {
        "id": f"{region.lower()}.school-{number}",
        "type": "school",
        "region": region,
        "parent": f"{region.lower()}.education_department",
        "name": {"kk": f"{kk_gen} № {number} {kk} (синтетикалық)",
                 "ru": f"{ru} № {number} {ru_gen} (синтетическая)",
                 "en": f"{en} No. {number}, {en_region} (synthetic)"},
        "language": language,
        "channels": [],
    }


def republic_body(entry: tuple[str, str, str | None, str, str, str]) -> dict[str, Any]:
    body_id, body_type, code, kk, ru, en = entry
    body: dict[str, Any] = {"id": body_id, "type": body_type, "region": None, "parent": None}
    if code is not None:
        body["code"] = code
    body.update({"name": {"kk": kk, "ru": ru, "en": en}, "language": None, "channels": []})
    return body


def body_groups() -> list[tuple[str, list[dict[str, Any]]]]:
    """Bodies grouped for reading: the republic level first, then each region's bodies and schools."""
    groups = [("Republic level", [republic_body(entry) for entry in REPUBLIC_BODIES])]
    for region, (_, _, en, *_rest) in REGIONS.items():
        bodies = [regional_body(region, body_type) for body_type in REGIONAL_NAMES]
        bodies += [school(region, n) for n in range(1, SCHOOLS_PER_REGION + 1)]
        groups.append((f"{region} {en}", bodies))
    return groups


def build() -> dict[str, Any]:
    """The whole directory as plain data, in file order."""
    regions = {code: {"kk": kk, "ru": ru, "en": en} for code, (kk, ru, en, *_rest) in REGIONS.items()}
    return {"regions": regions, "bodies": [body for _, group in body_groups() for body in group]}


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000, default_flow_style=False)


def render() -> str:
    """The file's text: header, regions, then the bodies with a comment line before each group."""
    regions = build()["regions"]
    lines = [HEADER, "regions:"]
    lines += [f"  {code}: {{kk: {n['kk']}, ru: {n['ru']}, en: {n['en']}}}" for code, n in regions.items()]
    lines.append("\nbodies:")
    for title, group in body_groups():
        lines.append(f"\n# {title}")
        lines.append(_dump(group).rstrip("\n"))
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else OUTPUT
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
