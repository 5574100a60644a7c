"""The bodies directory: the shipped synthetic data, its lookups, and the rules a directory file must keep."""
from __future__ import annotations

import copy
import importlib.util
import re
import time
from pathlib import Path

import pytest
import yaml

from states.directory import (
    BODY_TYPES, DEFAULT_PATH, LINE_MINISTRY, PARENT_TYPE, PARENT_TYPE_V1, REGIONAL_TYPES, REPUBLIC_TYPES, Body, Directory,
    DirectoryError, Region, default_directory,
)

REPO = Path(__file__).resolve().parents[1]
DECREE = REPO.parent / "shared" / "decree" / "000_b8f31f13fc127bbd.txt"
GENERATOR = REPO / "algorithms" / "data" / "make_directory.py"

REGION_CODES = {
    "KZ-10": "Abai", "KZ-11": "Akmola", "KZ-15": "Aktobe", "KZ-19": "Almaty Region", "KZ-23": "Atyrau",
    "KZ-27": "West Kazakhstan", "KZ-31": "Zhambyl", "KZ-33": "Zhetisu", "KZ-35": "Karaganda",
    "KZ-39": "Kostanay", "KZ-43": "Kyzylorda", "KZ-47": "Mangystau", "KZ-55": "Pavlodar",
    "KZ-59": "North Kazakhstan", "KZ-61": "Turkistan", "KZ-62": "Ulytau", "KZ-63": "East Kazakhstan",
    "KZ-71": "Astana", "KZ-75": "Almaty", "KZ-79": "Shymkent",
}
MINISTRY_CODES = {"МП": "ministry_education", "МЗ": "ministry_health", "МВД": "ministry_interior",
                  "МТСЗН": "ministry_labour"}
# The decree's abbreviation list, less the budgets (МБ, РБ) and МИО (every region's akimat).
OTHER_EXECUTOR_CODES = {"МИОР", "ГП", "МНВО", "МИИР", "МО", "КПСиСУ", "МКС", "СА", "МЧС", "МНЭ",
                        "МЦРИАП", "МТ", "МКИ", "МПС", "МТС"}
NOT_BODIES = {"МБ", "РБ", "МИО"}


@pytest.fixture(scope="module")
def directory() -> Directory:
    return Directory.load()


# --- vocabulary -----------------------------------------------------------------------------------

def test_body_types_are_the_specs_fixed_vocabulary():
    # 12 of the first spec plus version 2's health_department and social_department (rule C1)
    assert len(REGIONAL_TYPES) == 14 and len(REPUBLIC_TYPES) == 6
    assert BODY_TYPES == set(REGIONAL_TYPES) | set(REPUBLIC_TYPES)
    assert set(PARENT_TYPE) == BODY_TYPES


def test_every_regional_type_answers_to_a_known_type_and_the_republic_level_to_no_one():
    assert all(PARENT_TYPE[t] in BODY_TYPES for t in REGIONAL_TYPES)
    assert all(PARENT_TYPE[t] is None for t in REPUBLIC_TYPES)
    assert PARENT_TYPE["school"] == "education_department"
    assert PARENT_TYPE["akimat"] == "government_office"
    assert PARENT_TYPE["kdn"] == PARENT_TYPE["interagency_group"] == "akimat"
    # Version 2, rule C1: the line of subordination.
    assert PARENT_TYPE["guardianship"] == "education_department"
    assert PARENT_TYPE["health"] == "health_department" and PARENT_TYPE["health_department"] == "ministry_health"
    assert PARENT_TYPE["social_services"] == "social_department"
    assert PARENT_TYPE["social_department"] == "ministry_labour"


def test_version_1_keeps_the_parent_types_it_was_written_for():
    assert PARENT_TYPE_V1["guardianship"] == "akimat"
    assert PARENT_TYPE_V1["health"] == "ministry_health"
    assert PARENT_TYPE_V1["social_services"] == "ministry_labour"
    assert {t: p for t, p in PARENT_TYPE_V1.items() if t not in ("guardianship", "health", "social_services")} == \
        {t: p for t, p in PARENT_TYPE.items() if t not in ("guardianship", "health", "social_services")}


def test_every_body_type_has_a_line_ministry():
    assert set(LINE_MINISTRY) == BODY_TYPES
    assert LINE_MINISTRY["guardianship"] == LINE_MINISTRY["kdn"] == "ministry_education"
    assert LINE_MINISTRY["health"] == "ministry_health" and LINE_MINISTRY["social_services"] == "ministry_labour"
    assert LINE_MINISTRY["police"] == "ministry_interior" and LINE_MINISTRY["akimat"] == "government_office"


# --- the shipped synthetic directory --------------------------------------------------------------

def test_the_shipped_directory_has_the_twenty_regions_named_in_three_languages(directory):
    assert set(directory.regions) == set(REGION_CODES)
    for code, region in directory.regions.items():
        assert isinstance(region, Region) and region.code == code
        assert set(region.name) == {"kk", "ru", "en"} and all(region.name.values())
        assert region.name["en"].startswith(REGION_CODES[code].split()[0])


def test_every_region_has_one_body_of_every_regional_type_and_three_schools(directory):
    for region in directory.regions:
        for body_type in REGIONAL_TYPES:
            found = [b for b in directory.bodies() if b.region == region and b.type == body_type]
            assert len(found) == (3 if body_type == "school" else 1), (region, body_type)


def test_regional_ids_are_the_lower_case_region_code_and_the_type(directory):
    police = directory.get("kz-75.police")
    assert (police.type, police.region, police.parent) == ("police", "KZ-75", "ministry_interior")
    assert directory.get("kz-75.akimat").parent == "government_office"
    assert [s.id for s in directory.schools("KZ-75")] == ["kz-75.school-1", "kz-75.school-2", "kz-75.school-3"]
    for body in directory.bodies():
        if body.region:
            assert re.fullmatch(rf"{body.region.lower()}\.({body.type}|school-\d+)", body.id), body.id


def test_republic_ids_are_the_type_for_ministries_and_republic_dot_code_for_other_executors(directory):
    for body_type in REPUBLIC_TYPES[:-1]:
        assert directory.get(body_type).type == body_type
    others = [b for b in directory.bodies() if b.type == "republic_body"]
    assert all(re.fullmatch(r"republic\.[a-z]+", b.id) for b in others)
    assert directory.get("republic.mchs").code == "МЧС"


def test_ministries_carry_their_decree_codes_and_the_government_office_has_none(directory):
    for code, body_id in MINISTRY_CODES.items():
        assert directory.by_code(code).id == body_id
        assert directory.republic(body_id).code == code
    assert directory.republic("government_office").code is None


def test_every_other_executor_of_the_plan_is_one_republic_body(directory):
    others = {b.code: b for b in directory.bodies() if b.type == "republic_body"}
    assert set(others) == OTHER_EXECUTOR_CODES
    for code, body in others.items():
        assert directory.by_code(code) is body
        assert body.region is None and body.parent is None


@pytest.mark.skipif(not DECREE.exists(), reason="the decree text is not next to the repository")
def test_every_code_in_the_decrees_abbreviation_list_resolves_to_bodies(directory):
    notes = DECREE.read_text(encoding="utf-8").split("расшифровка аббревиатур")[1]
    codes = set(re.findall(r"^\s*(\S+)\s+–\s", notes, flags=re.MULTILINE))
    assert codes == set(MINISTRY_CODES) | OTHER_EXECUTOR_CODES | NOT_BODIES
    for code in codes - {"МБ", "РБ"}:
        assert directory.executors(code)


def test_local_executive_bodies_code_means_every_regions_akimat(directory):
    akimats = directory.executors("МИО")
    assert [b.id for b in akimats] == [f"{r.lower()}.akimat" for r in directory.regions]
    with pytest.raises(DirectoryError, match="every region's akimat"):
        directory.by_code("МИО")


def test_budget_codes_are_not_bodies(directory):
    for code in ("МБ", "РБ"):
        with pytest.raises(DirectoryError, match="no body has decree code"):
            directory.by_code(code)


def test_names_are_given_in_kazakh_russian_and_english_and_regional_ones_say_synthetic(directory):
    for body in directory.bodies():
        assert set(body.name) == {"kk", "ru", "en"} and all(body.name.values()), body.id
        if body.region:
            assert "синтет" in body.name["ru"] and "synthetic" in body.name["en"], body.id
    assert directory.get("kz-75.school-1").name["ru"] == "Школа-гимназия № 1 города Алматы (синтетическая)"


def test_preferred_languages_vary_between_kazakh_russian_and_both(directory):
    languages = {b.language for b in directory.bodies()}
    assert languages == {"kk", "ru", None}
    assert [s.language for s in directory.schools("KZ-71")] == ["kk", "ru", None]
    assert directory.get("kz-71.school-3").languages == ("kk", "ru")
    assert directory.get("kz-71.school-1").languages == ("kk",)


def test_channels_are_a_tuple_of_strings(directory):
    for body in directory.bodies():
        assert isinstance(body.channels, tuple) and all(isinstance(c, str) for c in body.channels)


def test_the_committed_file_is_exactly_what_the_generator_writes():
    spec = importlib.util.spec_from_file_location("make_directory", GENERATOR)
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert DEFAULT_PATH.read_text(encoding="utf-8") == generator.render()


def test_the_shipped_directory_loads_fast():
    started = time.perf_counter()
    Directory.load()
    assert time.perf_counter() - started < 1.0


# --- lookups --------------------------------------------------------------------------------------

def test_get_and_find_by_id(directory):
    assert isinstance(directory.get("kz-79.kdn"), Body)
    assert directory.find("kz-79.kdn") is directory.get("kz-79.kdn")
    assert directory.find("kz-99.kdn") is None


def test_an_unknown_id_is_a_directory_error_that_is_also_a_key_error(directory):
    with pytest.raises(DirectoryError, match=r"body 'kz-99\.police': unknown body id") as caught:
        directory.get("kz-99.police")
    assert isinstance(caught.value, KeyError)
    assert str(DEFAULT_PATH) in str(caught.value)


def test_region_body_is_the_regions_body_of_that_type(directory):
    assert directory.region_body("KZ-10", "guardianship").id == "kz-10.guardianship"
    assert directory.region_body("kz-10", "police").id == "kz-10.police"
    assert directory.region_body("KZ-10", "school").id == "kz-10.school-1"


def test_region_body_of_a_republic_type_ignores_the_region(directory):
    assert directory.region_body("KZ-10", "ministry_health").id == "ministry_health"
    assert directory.region_body("KZ-75", "government_office").id == "government_office"


def test_region_body_rejects_an_unknown_region_or_type(directory):
    with pytest.raises(DirectoryError, match="unknown region 'KZ-99'"):
        directory.region_body("KZ-99", "police")
    with pytest.raises(DirectoryError, match="unknown body type 'sheriff'"):
        directory.region_body("KZ-75", "sheriff")


def test_schools_of_a_region_in_file_order(directory):
    schools = directory.schools("KZ-33")
    assert [s.id for s in schools] == [f"kz-33.school-{n}" for n in (1, 2, 3)]
    assert all(s.type == "school" and s.region == "KZ-33" for s in schools)


def test_republic_returns_the_single_body_of_a_republic_type(directory):
    assert directory.republic("ministry_education").id == "ministry_education"
    with pytest.raises(DirectoryError, match="use by_code"):
        directory.republic("republic_body")
    with pytest.raises(DirectoryError, match="no republic body of type 'police'"):
        directory.republic("police")


def test_by_code_tolerates_surrounding_spaces_and_rejects_unknown_codes(directory):
    assert directory.by_code(" МЧС ").id == "republic.mchs"
    with pytest.raises(DirectoryError, match="no body has decree code 'XYZ'"):
        directory.by_code("XYZ")


def test_bodies_are_hashable_by_id(directory):
    assert len(set(directory.bodies())) == len(list(directory.bodies())) == len(directory)


# --- hierarchy ------------------------------------------------------------------------------------

def test_a_school_escalates_to_its_education_department_then_the_ministry(directory):
    chain = directory.chain("kz-75.school-2")
    assert [b.id for b in chain] == ["kz-75.education_department", "ministry_education"]
    assert directory.parent(directory.get("kz-75.school-2")).id == "kz-75.education_department"
    assert directory.top_of_chain("kz-75.school-2").id == "ministry_education"


@pytest.mark.parametrize("body_id, chain", [
    ("kz-11.psych_center", ["kz-11.education_department", "ministry_education"]),
    ("kz-11.consilium", ["kz-11.education_department", "ministry_education"]),
    ("kz-11.guardianship", ["kz-11.education_department", "ministry_education"]),
    ("kz-11.kdn", ["kz-11.akimat", "government_office"]),
    ("kz-11.interagency_group", ["kz-11.akimat", "government_office"]),
    ("kz-11.police", ["ministry_interior"]),
    ("kz-11.health", ["kz-11.health_department", "ministry_health"]),
    ("kz-11.social_services", ["kz-11.social_department", "ministry_labour"]),
    ("kz-11.health_department", ["ministry_health"]),
    ("kz-11.social_department", ["ministry_labour"]),
    ("kz-11.hotline", ["ministry_education"]),
    ("kz-11.akimat", ["government_office"]),
    ("ministry_education", []),
    ("republic.gp", []),
])
def test_every_regional_type_has_the_chain_the_spec_gives(directory, body_id, chain):
    assert [b.id for b in directory.chain(body_id)] == chain


def test_every_chain_ends_at_a_ministry_or_the_government_office(directory):
    tops = {"ministry_education", "ministry_health", "ministry_interior", "ministry_labour",
            "government_office"}
    for body in directory.bodies():
        if body.type != "republic_body":
            assert directory.top_of_chain(body).type in tops, body.id


def test_the_top_of_a_republic_bodys_chain_is_itself(directory):
    assert directory.top_of_chain("ministry_health").id == "ministry_health"
    assert directory.parent("ministry_health") is None


def test_a_supervisor_is_any_level_up_but_never_the_body_itself(directory):
    assert directory.is_supervisor("kz-75.education_department", "kz-75.school-1")
    assert directory.is_supervisor("ministry_education", directory.get("kz-75.school-1"))
    assert not directory.is_supervisor("kz-75.school-1", "kz-75.school-1")
    assert not directory.is_supervisor("kz-71.education_department", "kz-75.school-1")
    assert not directory.is_supervisor("kz-75.school-1", "kz-75.education_department")
    assert not directory.is_supervisor("kz-75.akimat", "kz-75.school-1")


# --- where the directory comes from ---------------------------------------------------------------

def test_default_directory_is_loaded_once():
    assert default_directory() is default_directory()


def test_the_environment_variable_names_a_replacement_directory(tmp_path, monkeypatch):
    path = write(tmp_path, minimal())
    monkeypatch.setenv("QORGAU_DIRECTORY", str(path))
    assert {r for r in Directory.load().regions} == {"KZ-75"}


def test_an_explicit_path_wins_over_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("QORGAU_DIRECTORY", str(tmp_path / "missing.yaml"))
    assert len(Directory.load(write(tmp_path, minimal())).regions) == 1


# --- rules a directory file must keep -------------------------------------------------------------

def body(body_id, body_type, region=None, parent=None, **extra):
    return {"id": body_id, "type": body_type, "region": region, "parent": parent,
            "name": {"kk": f"{body_id} kk", "ru": f"{body_id} ru", "en": body_id},
            "language": None, "channels": [], **extra}


def minimal() -> dict:
    """The smallest valid directory: one region, every regional type once, the republic level."""
    republic = [body(t, t, code=c) for t, c in (
        ("ministry_education", "МП"), ("ministry_health", "МЗ"), ("ministry_interior", "МВД"),
        ("ministry_labour", "МТСЗН"), ("government_office", None))]
    republic.append(body("republic.mchs", "republic_body", code="МЧС"))
    regional = []
    for body_type in REGIONAL_TYPES:
        parent = PARENT_TYPE[body_type]
        parent_id = f"kz-75.{parent}" if parent in REGIONAL_TYPES else parent
        regional.append(body(f"kz-75.{body_type}", body_type, "KZ-75", parent_id))
    return {"regions": {"KZ-75": {"kk": "Алматы қаласы", "ru": "город Алматы", "en": "Almaty"}},
            "bodies": republic + regional}


def write(tmp_path: Path, data: dict | str) -> Path:
    path = tmp_path / "directory.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True),
                    encoding="utf-8")
    return path


def load_error(tmp_path: Path, data: dict | str) -> str:
    path = write(tmp_path, data)
    with pytest.raises(DirectoryError) as caught:
        Directory.load(path)
    message = str(caught.value)
    assert str(path) in message
    return message


def edited(body_id: str, **changes) -> dict:
    data = minimal()
    next(b for b in data["bodies"] if b["id"] == body_id).update(changes)
    return data


def test_the_minimal_directory_is_valid(tmp_path):
    directory = Directory.load(write(tmp_path, minimal()))
    assert directory.region_body("KZ-75", "school").id == "kz-75.school"


def test_an_unknown_body_type_is_rejected(tmp_path):
    message = load_error(tmp_path, edited("kz-75.police", type="sheriff"))
    assert "body 'kz-75.police': unknown body type 'sheriff'" in message


def test_an_unknown_region_is_rejected(tmp_path):
    message = load_error(tmp_path, edited("kz-75.school", region="KZ-99"))
    assert "body 'kz-75.school': unknown region 'KZ-99'" in message


def test_a_regional_body_without_region_is_rejected(tmp_path):
    message = load_error(tmp_path, edited("kz-75.school", region=None))
    assert "body 'kz-75.school': a body of regional type 'school' needs a region" in message


def test_an_unknown_parent_is_rejected(tmp_path):
    message = load_error(tmp_path, edited("kz-75.kdn", parent="kz-75.mayor"))
    assert "body 'kz-75.kdn': unknown parent id 'kz-75.mayor'" in message


def test_a_missing_parent_is_rejected(tmp_path):
    message = load_error(tmp_path, edited("kz-75.kdn", parent=None))
    assert "body 'kz-75.kdn': a 'kdn' needs a parent of type 'akimat'" in message


def test_a_parent_of_the_wrong_type_is_rejected(tmp_path):
    message = load_error(tmp_path, edited("kz-75.police", parent="ministry_education"))
    assert ("body 'kz-75.police': parent 'ministry_education' is a 'ministry_education', "
            "but a 'police' answers to a 'ministry_interior'") in message


def test_a_school_must_answer_to_the_education_department_of_its_own_region(tmp_path):
    data = minimal()
    data["regions"]["KZ-71"] = {"kk": "Астана қаласы", "ru": "город Астана", "en": "Astana"}
    data["bodies"] += [b | {"id": b["id"].replace("kz-75", "kz-71"), "region": "KZ-71",
                            "parent": b["parent"].replace("kz-75", "kz-71")}
                       for b in copy.deepcopy(data["bodies"]) if b["region"] == "KZ-75"]
    next(b for b in data["bodies"] if b["id"] == "kz-71.school")["parent"] = "kz-75.education_department"
    message = load_error(tmp_path, data)
    assert ("body 'kz-71.school': parent 'kz-75.education_department' must be the "
            "'education_department' of the same region 'KZ-71'") in message


def test_a_duplicate_id_is_rejected(tmp_path):
    data = minimal()
    data["bodies"].append(body("kz-75.police", "police", "KZ-75", "ministry_interior"))
    assert "body 'kz-75.police': duplicate body id" in load_error(tmp_path, data)


def test_a_duplicate_decree_code_is_rejected(tmp_path):
    data = minimal()
    data["bodies"].append(body("republic.mchs2", "republic_body", code="МЧС"))
    message = load_error(tmp_path, data)
    assert "body 'republic.mchs2': decree code 'МЧС' is already used by 'republic.mchs'" in message


def test_a_cycle_of_parents_is_rejected(tmp_path):
    data = edited("kz-75.kdn", parent="kz-75.guardianship")
    next(b for b in data["bodies"] if b["id"] == "kz-75.guardianship")["parent"] = "kz-75.kdn"
    message = load_error(tmp_path, data)
    assert "parent links form a cycle" in message
    assert re.search(r"body 'kz-75\.(kdn|guardianship)': parent links form a cycle", message)


def test_a_region_missing_a_regional_type_is_rejected(tmp_path):
    data = minimal()
    data["bodies"] = [b for b in data["bodies"] if b["id"] != "kz-75.consilium"]
    assert "region 'KZ-75': no body of regional type 'consilium'" in load_error(tmp_path, data)


def test_a_missing_or_doubled_ministry_is_rejected(tmp_path):
    data = minimal()
    data["bodies"].append(body("ministry_education_2", "ministry_education"))
    message = load_error(tmp_path, data)
    assert "republic type 'ministry_education': expected exactly one body, found 2" in message


def test_a_republic_body_has_neither_region_nor_parent_and_needs_a_code(tmp_path):
    message = load_error(tmp_path, edited("republic.mchs", region="KZ-75", parent="government_office",
                                          code=None))
    assert "body 'republic.mchs': a republic-level body ('republic_body') has no region" in message
    assert "body 'republic.mchs': a republic-level body ('republic_body') has no parent" in message
    assert "body 'republic.mchs': a 'republic_body' needs its decree code in 'code'" in message


def test_names_need_kazakh_and_russian(tmp_path):
    message = load_error(tmp_path, edited("kz-75.hotline", name={"ru": "Телефон доверия"}))
    assert "body 'kz-75.hotline': name must give non-empty kk and ru names" in message


def test_the_language_is_kazakh_russian_or_none(tmp_path):
    message = load_error(tmp_path, edited("kz-75.hotline", language="en"))
    assert "body 'kz-75.hotline': language must be kk, ru or null (both)" in message


def test_channels_are_a_list_of_strings(tmp_path):
    message = load_error(tmp_path, edited("kz-75.hotline", channels="mailto://x@example.org"))
    assert "body 'kz-75.hotline': channels must be a list of non-empty strings" in message


def test_an_unknown_field_is_rejected(tmp_path):
    message = load_error(tmp_path, edited("kz-75.hotline", phone="111"))
    assert "body 'kz-75.hotline': unknown field(s) phone" in message


def test_every_broken_rule_is_reported_at_once(tmp_path):
    data = edited("kz-75.police", type="sheriff")
    next(b for b in data["bodies"] if b["id"] == "kz-75.kdn")["parent"] = "nowhere"
    error = None
    try:
        Directory.load(write(tmp_path, data))
    except DirectoryError as caught:
        error = caught
    assert error is not None and len(error.problems) >= 3  # sheriff, kdn's parent, no police in KZ-75


def test_a_missing_file_or_broken_yaml_names_the_file(tmp_path):
    with pytest.raises(DirectoryError, match="cannot read the directory"):
        Directory.load(tmp_path / "nope.yaml")
    assert "not valid YAML" in load_error(tmp_path, "bodies: [unclosed")
    assert "'bodies' must be a non-empty list" in load_error(tmp_path, "regions: {}\n")
