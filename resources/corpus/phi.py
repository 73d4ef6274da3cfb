"""Identifiers planted where real PACS data hides them, each recorded with its tag path.

Tag path notation (used in the manifest's ``planted_phi``):

* ``(gggg,eeee)`` - a standard element, hexadecimal upper case, e.g. ``(0008,1030)``;
* ``(gggg,"CREATOR",ee)`` - a private element: group, private creator string, element offset within the
  creator's block (two hex digits), e.g. ``(0009,"GEMS_IDEN_01",11)``;
* ``[i]`` after a sequence - its item ``i`` (0-based), and ``.`` between levels, e.g.
  ``(0040,0275)[0].(0032,1060)``; SR content items are addressed the same way through
  Content Sequence ``(0040,A730)``.

Every planted value also records ``identifier``: the identifying text inside it (the name in
"CT HEAD for SMITH JOHN", the phone number in a comment) that must not survive de-identification.
"""

from __future__ import annotations

from dataclasses import dataclass

from resources.corpus.draft import DraftDataset
from resources.corpus.plan import StudyPlan

PRIVATE_BLOCK_BY_VENDOR = {
    "GE": (0x0009, "GEMS_IDEN_01"),
    "Siemens": (0x0029, "SIEMENS MEDCOM HEADER"),
    "Philips": (0x2001, "Philips Imaging DD 001"),
    "Canon": (0x7005, "TOSHIBA_MEC_CT3"),
    "Hologic": (0x0019, "HOLOGIC, Inc."),
}


@dataclass(frozen=True)
class PlantedValue:
    """One planted identifier. ``scope`` is study (every instance), series, or instance."""

    tag_path: str
    value: str
    kind: str
    identifier: str
    scope: str = "study"
    series_uid: str | None = None
    sop_uid: str | None = None

    def to_manifest(self, study_uid: str, known_identifiers: tuple[str, ...] = ()) -> dict[str, object]:
        """The manifest entry; ``identifiers`` lists every known identifier found inside the value."""
        found = {self.identifier} | {known for known in known_identifiers if known and known in self.value}
        return {
            "study_uid": study_uid,
            "series_uid": self.series_uid,
            "sop_uid": self.sop_uid,
            "scope": self.scope,
            "tag_path": self.tag_path,
            "value": self.value,
            "identifier": self.identifier,
            "identifiers": sorted(found),
            "kind": self.kind,
        }


def known_identifiers(plan: StudyPlan) -> tuple[str, ...]:
    """Identifying strings of the study's patient as they may appear inside planted free text."""
    p = plan.patient
    return (
        p.dicom_name,
        p.plain_name,
        p.patient_id,
        p.nhs_number,
        formatted_nhs_number(p.nhs_number),
        p.old_mrn,
        p.phone,
        p.mobile,
        p.email,
        p.address,
        p.birth_date.strftime("%Y%m%d"),
        slash_date(plan),
        p.relative_name,
        p.relative_name.replace("^", " "),
        plan.accession,
    )


def tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def formatted_nhs_number(number: str) -> str:
    return f"{number[:3]} {number[3:6]} {number[6:]}"


def slash_date(plan: StudyPlan) -> str:
    birth = plan.patient.birth_date
    return f"{birth.day:02d}/{birth.month:02d}/{birth.year}"


# (tag, VR, value getter, kind, identifier getter) for top-level elements in every instance.
def _top_level(plan: StudyPlan) -> list[tuple[int, str, str, str, str]]:
    p = plan.patient
    name = p.plain_name
    exam = plan.protocol_raw
    return [
        (0x00100021, "LO", p.issuer, "issuer_of_patient_id", p.issuer),
        (0x00101000, "LO", f"{p.nhs_number}\\{p.old_mrn}", "other_patient_ids", p.nhs_number),
        (0x00101001, "PN", p.relative_name, "person_name", p.relative_name),
        (0x00101005, "PN", p.birth_name, "person_name", p.birth_name),
        (0x00101060, "PN", p.mother_birth_name, "person_name", p.mother_birth_name),
        (0x00101040, "LO", p.address, "address", p.address),
        (0x00102154, "SH", p.phone, "phone_number", p.phone),
        (0x00102180, "SH", p.occupation, "occupation", p.occupation),
        (0x00102160, "SH", p.ethnic_group, "ethnic_group", p.ethnic_group),
        (0x00101080, "LO", p.military_rank, "military_rank", p.military_rank),
        (
            0x001021B0,
            "LT",
            f"Fall at home, lives with {p.relative_name.replace('^', ' ')}",
            "free_text_person_name",
            p.relative_name.replace("^", " "),
        ),
        (0x00104000, "LT", f"Contact by e-mail {p.email}", "free_text_email", p.email),
        (0x00320012, "LO", "TESTVILLE RIS", "issuer", "TESTVILLE RIS"),
        (0x00081060, "PN", plan.reading_physician, "physician_name", plan.reading_physician),
        (0x00321032, "PN", plan.requesting_physician, "physician_name", plan.requesting_physician),
        (0x00081050, "PN", plan.performing_physician, "physician_name", plan.performing_physician),
        (0x00081070, "PN", plan.operator, "operator_name", plan.operator),
        (0x00080094, "SH", p.mobile, "phone_number", p.mobile),
        (
            0x00324000,
            "LT",
            f"NHS {formatted_nhs_number(p.nhs_number)} checked at reception",
            "free_text_nhs_number",
            formatted_nhs_number(p.nhs_number),
        ),
        (0x00321060, "LO", f"{exam} for {name}", "free_text_person_name", name),
        (0x00400254, "LO", f"{exam} {name}", "free_text_person_name", name),
        (0x00400280, "ST", f"Pt asked to call {p.mobile} with results", "free_text_phone_number", p.mobile),
        (0x00380010, "LO", f"ADM{p.patient_id[1:]}", "admission_id", f"ADM{p.patient_id[1:]}"),
        (
            0x00080081,
            "ST",
            plan.device.institution_address,
            "institution_address",
            plan.device.institution_address,
        ),
    ]


def plant_study_level(ds: DraftDataset, plan: StudyPlan) -> list[PlantedValue]:
    """Plant the identifiers every instance of the study carries; returns what was planted."""
    planted: list[PlantedValue] = []
    p = plan.patient
    for tag, vr, value, kind, identifier in _top_level(plan):
        ds.add_new(tag, vr, value)
        planted.append(PlantedValue(tag_text(tag), value, kind, identifier))

    other = DraftDataset()
    other.PatientID = p.old_mrn
    other.IssuerOfPatientID = "OLD PAS"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = [other]
    planted.append(PlantedValue("(0010,1002)[0].(0010,0020)", p.old_mrn, "patient_id", p.old_mrn))

    request = DraftDataset()
    request.RequestedProcedureDescription = f"{plan.protocol_raw} for {p.plain_name}"
    request.ScheduledProcedureStepDescription = f"{p.plain_name} DOB {slash_date(plan)}"
    request.ScheduledProcedureStepID = f"SPS{plan.accession[2:]}"
    request.RequestedProcedureID = f"RP{plan.accession[2:]}"
    request.AccessionNumber = plan.accession
    ds.RequestAttributesSequence = [request]
    planted += [
        PlantedValue(
            "(0040,0275)[0].(0032,1060)",
            request.RequestedProcedureDescription,
            "free_text_person_name",
            p.plain_name,
        ),
        PlantedValue(
            "(0040,0275)[0].(0040,0007)",
            request.ScheduledProcedureStepDescription,
            "free_text_birth_date",
            slash_date(plan),
        ),
        PlantedValue(
            "(0040,0275)[0].(0040,1001)",
            request.RequestedProcedureID,
            "request_id",
            request.RequestedProcedureID,
        ),
        PlantedValue("(0040,0275)[0].(0008,0050)", plan.accession, "accession_number", plan.accession),
    ]

    # Referenced Patient Sequence, nested two levels deep (the patient's other IDs inside it).
    inner = DraftDataset()
    inner.PatientID = p.nhs_number
    inner.IssuerOfPatientID = "NHS"
    referenced = DraftDataset()
    referenced.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.1.1"  # Detached Patient Management (retired)
    referenced.ReferencedSOPInstanceUID = plan.study_uid + ".1"
    referenced.PatientName = p.dicom_name
    referenced.OtherPatientIDsSequence = [inner]
    ds.ReferencedPatientSequence = [referenced]
    planted += [
        PlantedValue("(0008,1120)[0].(0010,0010)", p.dicom_name, "patient_name", p.dicom_name),
        PlantedValue("(0008,1120)[0].(0010,1002)[0].(0010,0020)", p.nhs_number, "patient_id", p.nhs_number),
    ]

    vendor = plan.device.device.vendor
    group, creator = PRIVATE_BLOCK_BY_VENDOR.get(vendor, (0x0011, "DICOMLAKE CORPUS"))
    block = ds.private_block(group, creator)
    block.add_new(0x90, "LO", p.patient_id)
    block.add_new(0x91, "PN", p.dicom_name)
    block.add_new(0x92, "LO", f"{p.plain_name} {slash_date(plan)}")
    nested = DraftDataset()
    nested.PatientName = p.dicom_name
    nested.PatientBirthDate = p.birth_date.strftime("%Y%m%d")
    block.add_new(0x93, "SQ", [nested])
    prefix = f'({group:04X},"{creator}",'
    planted += [
        PlantedValue(prefix + "90)", p.patient_id, "private_patient_id", p.patient_id),
        PlantedValue(prefix + "91)", p.dicom_name, "private_patient_name", p.dicom_name),
        PlantedValue(
            prefix + "92)", f"{p.plain_name} {slash_date(plan)}", "private_free_text", slash_date(plan)
        ),
        PlantedValue(prefix + "93)[0].(0010,0010)", p.dicom_name, "private_nested_name", p.dicom_name),
        PlantedValue(
            prefix + "93)[0].(0010,0030)",
            nested.PatientBirthDate,
            "private_nested_birth_date",
            nested.PatientBirthDate,
        ),
    ]
    # A site's local protocol code (scheme 99MYHOSP) whose meaning carries the patient's family name,
    # and a local procedure code (scheme L) whose value is the accession: text inside coded items.
    family = p.dicom_name.split("^")[0]
    protocol = DraftDataset()
    protocol.CodeValue = "MYHOSP-01"
    protocol.CodingSchemeDesignator = "99MYHOSP"
    protocol.CodeMeaning = f"{plan.protocol_raw[:40]} {family}"
    ds.PerformedProtocolCodeSequence = [protocol]
    procedure = DraftDataset()
    procedure.CodeValue = plan.accession[:16]
    procedure.CodingSchemeDesignator = "L"
    procedure.CodeMeaning = "Local procedure"
    ds.ProcedureCodeSequence = [procedure]
    planted += [
        PlantedValue("(0040,0260)[0].(0008,0104)", protocol.CodeMeaning, "coded_item_meaning", family),
        PlantedValue(
            "(0008,1032)[0].(0008,0100)", procedure.CodeValue, "coded_item_value", procedure.CodeValue
        ),
    ]
    if plan.plants_name_in_study_description:
        planted.append(
            PlantedValue("(0008,1030)", str(ds.StudyDescription), "free_text_person_name", p.plain_name)
        )
    return planted


def core_identifiers(plan: StudyPlan) -> list[PlantedValue]:
    """The ordinary identifying attributes (always present, planted or not)."""
    p = plan.patient
    return [
        PlantedValue("(0010,0010)", p.dicom_name, "patient_name", p.dicom_name),
        PlantedValue("(0010,0020)", p.patient_id, "patient_id", p.patient_id),
        PlantedValue(
            "(0010,0030)", p.birth_date.strftime("%Y%m%d"), "birth_date", p.birth_date.strftime("%Y%m%d")
        ),
        PlantedValue("(0008,0050)", plan.accession, "accession_number", plan.accession),
        PlantedValue("(0008,0090)", plan.referring_physician, "physician_name", plan.referring_physician),
    ]
