"""X-Ray Radiation Dose SR instances carrying a CT Radiation Dose report (PS3.16 TID 10011).

Structure follows TID 10011 "CT Radiation Dose": observer context (TID 1002), CT Accumulated Dose
Data (TID 10012), one CT Acquisition per irradiation event (TID 10013) with CT Acquisition
Parameters and, except for localisers, CT Dose (TID 10014 for scanning length).
"""

from __future__ import annotations

import datetime as dt

from resources.corpus.dicom_modules import (
    CT_IMAGE_STORAGE,
    XRAY_RADIATION_DOSE_SR_STORAGE,
    code_sequence,
    dicom_date,
    dicom_datetime,
    dicom_time,
)
from resources.corpus.draft import DraftDataset
from resources.corpus.phi import PlantedValue
from resources.corpus.plan import EventPlan, StudyPlan

DCM = "DCM"
UCUM = "UCUM"
PHANTOM_CODES = {
    "head": ("113690", DCM, "IEC Head Dosimetry Phantom"),
    "body": ("113691", DCM, "IEC Body Dosimetry Phantom"),
}
UNITS = {
    "mGy": ("mGy", "mGy"),
    "mGy.cm": ("mGy.cm", "mGy.cm"),
    "mGycm": ("mGycm", "mGy.cm"),  # the unit spelling some vendors write
    "mm": ("mm", "mm"),
    "s": ("s", "s"),
    "kV": ("kV", "kV"),
    "mA": ("mA", "mA"),
    "ratio": ("{ratio}", "ratio"),
    "events": ("{events}", "events"),
    "sources": ("{X-Ray sources}", "X-Ray sources"),
    "mSv": ("mSv", "mSv"),
}


def _item(relationship: str, value_type: str, concept: tuple[str, str, str]) -> DraftDataset:
    item = DraftDataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    item.ConceptNameCodeSequence = code_sequence(*concept)
    return item


def container(relationship: str, concept: tuple[str, str, str], children: list[DraftDataset]) -> DraftDataset:
    item = _item(relationship, "CONTAINER", concept)
    item.ContinuityOfContent = "SEPARATE"
    item.ContentSequence = children
    return item


def code(relationship: str, concept: tuple[str, str, str], value: tuple[str, str, str]) -> DraftDataset:
    item = _item(relationship, "CODE", concept)
    item.ConceptCodeSequence = code_sequence(*value)
    return item


def num(concept: tuple[str, str, str], value: float, unit: str, places: int | None = None) -> DraftDataset:
    item = _item("CONTAINS", "NUM", concept)
    measured = DraftDataset()
    code_value, meaning = UNITS[unit]
    measured.MeasurementUnitsCodeSequence = code_sequence(code_value, UCUM, meaning)
    measured.NumericValue = _ds_text(value, places)
    item.MeasuredValueSequence = [measured]
    return item


def text(relationship: str, concept: tuple[str, str, str], value: str) -> DraftDataset:
    item = _item(relationship, "TEXT", concept)
    item.TextValue = value
    return item


def uidref(relationship: str, concept: tuple[str, str, str], value: str) -> DraftDataset:
    item = _item(relationship, "UIDREF", concept)
    item.UID = value
    return item


def datetime_item(relationship: str, concept: tuple[str, str, str], value: dt.datetime) -> DraftDataset:
    item = _item(relationship, "DATETIME", concept)
    item.DateTime = dicom_datetime(value)
    return item


def pname(relationship: str, concept: tuple[str, str, str], value: str) -> DraftDataset:
    item = _item(relationship, "PNAME", concept)
    item.PersonName = value
    return item


def _ds_text(value: float, places: int | None = None) -> str:
    """A decimal string: the shortest exact form, padded with trailing zeros to ``places`` decimals
    when given, as some vendors write them ("5.30", "0.813000"); never rounds the value."""
    text_value = f"{value:.4f}".rstrip("0").rstrip(".") or "0"
    if places is None:
        return text_value
    whole, _, decimals = text_value.partition(".")
    return f"{whole}.{decimals.ljust(places, '0')}"


def ct_acquisition(plan: StudyPlan, event: EventPlan, planted_comment: str | None) -> DraftDataset:
    """One CT Acquisition container (TID 10013) for ``event``."""
    device = plan.device.device
    places = device.numeric_places
    children = [
        text("CONTAINS", ("125203", DCM, "Acquisition Protocol"), event.acquisition_protocol),
        code("CONTAINS", ("123014", DCM, "Target Region"), event.target_region),
        code("CONTAINS", ("113820", DCM, "CT Acquisition Type"), event.acquisition_type),
        uidref("CONTAINS", ("113769", DCM, "Irradiation Event UID"), event.irradiation_event_uid),
        datetime_item("CONTAINS", ("111526", DCM, "DateTime Started"), event.start),
    ]
    source = [
        text("CONTAINS", ("113832", DCM, "Identification of the X-Ray Source"), "A"),
        num(("113733", DCM, "KVP"), event.kvp, "kV", places),
        num(("113833", DCM, "Maximum X-Ray Tube Current"), event.tube_current_ma, "mA", places),
        num(("113734", DCM, "X-Ray Tube Current"), event.tube_current_ma, "mA", places),
    ]
    if event.kind != "localizer":
        source.append(num(("113834", DCM, "Exposure Time per Rotation"), 0.5, "s", places))
    parameters = [
        num(("113824", DCM, "Exposure Time"), event.exposure_time_s, "s", places),
        num(("113825", DCM, "Scanning Length"), event.scanning_length_mm, "mm", places),
        num(("113826", DCM, "Nominal Single Collimation Width"), event.single_collimation_mm, "mm", places),
        num(("113827", DCM, "Nominal Total Collimation Width"), event.total_collimation_mm, "mm", places),
    ]
    if event.pitch is not None:
        parameters.append(num(("113828", DCM, "Pitch Factor"), event.pitch, "ratio", places))
    parameters.append(num(("113823", DCM, "Number of X-Ray Sources"), 1, "sources"))
    parameters.append(container("CONTAINS", ("113831", DCM, "CT X-Ray Source Parameters"), source))
    children.append(container("CONTAINS", ("113822", DCM, "CT Acquisition Parameters"), parameters))
    if event.has_dose_container and event.ctdivol_mgy is not None and event.dlp_mgycm is not None:
        assert event.phantom is not None
        children.append(
            container(
                "CONTAINS",
                ("113829", DCM, "CT Dose"),
                [
                    num(("113830", DCM, "Mean CTDIvol"), event.ctdivol_mgy, "mGy", places),
                    code("CONTAINS", ("113835", DCM, "CTDIw Phantom Type"), PHANTOM_CODES[event.phantom]),
                    num(("113838", DCM, "DLP"), event.dlp_mgycm, device.dlp_unit, places),
                ],
            )
        )
    if planted_comment is not None:
        children.append(text("CONTAINS", ("121106", DCM, "Comment"), planted_comment))
    return container("CONTAINS", ("113819", DCM, "CT Acquisition"), children)


def dose_report_part(
    plan: StudyPlan, rdsr_number: int, plant_phi: bool
) -> tuple[DraftDataset, list[PlantedValue]]:
    """Dose SR number ``rdsr_number`` (1-based) without the study part, and what was planted in it.

    Series, SR Document General, SR Document Content and SOP Common of the X-Ray Radiation Dose SR
    IOD; with the study part it is a complete instance.
    """
    events = plan.rdsr_events(rdsr_number)
    device = plan.device
    places = device.device.numeric_places
    sop_uid = plan.sop_uid(plan.rdsr_series_number, rdsr_number)
    series_uid = plan.rdsr_series_uid
    ds = DraftDataset()
    ds.SOPClassUID = XRAY_RADIATION_DOSE_SR_STORAGE
    ds.SOPInstanceUID = sop_uid
    last_end = max(e.end for e in events)
    content_time = last_end + dt.timedelta(seconds=30)
    ds.ContentDate = dicom_date(content_time.date())
    ds.SeriesDate = dicom_date(content_time.date())
    ds.SeriesTime = dicom_time(content_time)
    ds.ContentTime = dicom_time(content_time)
    ds.Modality = "SR"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = str(plan.rdsr_series_number)
    ds.SeriesDescription = "Dose Report"
    ds.InstanceNumber = str(rdsr_number)
    ds.ReferencedPerformedProcedureStepSequence = []
    ds.PerformedProcedureCodeSequence = []
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = code_sequence("113701", DCM, "X-Ray Radiation Dose Report")
    ds.ContinuityOfContent = "SEPARATE"
    template = DraftDataset()
    template.MappingResource = "DCMR"
    template.TemplateIdentifier = "10011"
    ds.ContentTemplateSequence = [template]
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    evidence_series = []
    for event in events:
        ref_series = DraftDataset()
        ref_series.SeriesInstanceUID = event.series_uid
        refs = []
        for index in range(event.n_images):
            ref = DraftDataset()
            ref.ReferencedSOPClassUID = CT_IMAGE_STORAGE
            ref.ReferencedSOPInstanceUID = plan.sop_uid(event.series_number, index + 1)
            refs.append(ref)
        ref_series.ReferencedSOPSequence = refs
        evidence_series.append(ref_series)
    evidence = DraftDataset()
    evidence.StudyInstanceUID = plan.study_uid
    evidence.ReferencedSeriesSequence = evidence_series
    ds.CurrentRequestedProcedureEvidenceSequence = [evidence]

    planted: list[PlantedValue] = []
    patient = plan.patient
    content: list[DraftDataset] = [
        code(
            "HAS CONCEPT MOD",
            ("121058", DCM, "Procedure reported"),
            ("77477000", "SCT", "Computed Tomography X-Ray"),
        ),
        code("HAS OBS CONTEXT", ("121005", DCM, "Observer Type"), ("121007", DCM, "Device")),
        uidref("HAS OBS CONTEXT", ("121012", DCM, "Device Observer UID"), device.observer_uid),
        text("HAS OBS CONTEXT", ("121013", DCM, "Device Observer Name"), device.station_name.strip() or "CT"),
        text("HAS OBS CONTEXT", ("121014", DCM, "Device Observer Manufacturer"), device.manufacturer),
        text("HAS OBS CONTEXT", ("121015", DCM, "Device Observer Model Name"), device.device.model),
        text("HAS OBS CONTEXT", ("121016", DCM, "Device Observer Serial Number"), device.device.serial),
        text(
            "HAS OBS CONTEXT",
            ("121017", DCM, "Device Observer Physical Location During Observation"),
            device.institution_name,
        ),
    ]
    if plant_phi:
        # The device observer's serial and location are identifying TEXT items in every real vendor
        # RDSR: with Retain Institution Identity off and serials pseudonymised they must not survive.
        for index, (tag_value, kind) in enumerate(
            ((device.device.serial, "sr_serial"), (device.institution_name, "sr_institution")), start=6
        ):
            if tag_value.strip():
                planted.append(
                    _sr_plant(index, "(0040,A160)", tag_value, kind, tag_value, series_uid, sop_uid)
                )
        content.append(code("HAS OBS CONTEXT", ("121005", DCM, "Observer Type"), ("121006", DCM, "Person")))
        content.append(pname("HAS OBS CONTEXT", ("121008", DCM, "Person Observer Name"), plan.operator))
        planted.append(
            _sr_plant(
                len(content) - 1, "(0040,A123)", plan.operator, "sr_pname", plan.operator, series_uid, sop_uid
            )
        )
        content.append(uidref("HAS OBS CONTEXT", ("110180", DCM, "Study Instance UID"), plan.study_uid))
        planted.append(
            _sr_plant(
                len(content) - 1,
                "(0040,A124)",
                plan.study_uid,
                "sr_uidref",
                plan.study_uid,
                series_uid,
                sop_uid,
            )
        )
    content += [
        datetime_item("HAS OBS CONTEXT", ("113809", DCM, "Start of X-Ray Irradiation"), events[0].start),
        datetime_item("HAS OBS CONTEXT", ("113810", DCM, "End of X-Ray Irradiation"), last_end),
        code("CONTAINS", ("113705", DCM, "Scope of Accumulation"), ("113014", DCM, "Study")),
    ]
    content[-1].ContentSequence = [
        uidref("HAS PROPERTIES", ("110180", DCM, "Study Instance UID"), plan.study_uid)
    ]
    total_dlp = round(sum(e.dlp_mgycm or 0.0 for e in events), 2)
    content.append(
        container(
            "CONTAINS",
            ("113811", DCM, "CT Accumulated Dose Data"),
            [
                num(("113812", DCM, "Total Number of Irradiation Events"), len(events), "events"),
                num(
                    ("113813", DCM, "CT Dose Length Product Total"),
                    total_dlp,
                    plan.device.device.dlp_unit,
                    places,
                ),
            ],
        )
    )
    for event in events:
        comment = None
        if plant_phi and event.kind != "localizer":
            comment = f"Repeat scan discussed with {patient.plain_name}"
        content.append(ct_acquisition(plan, event, comment))
        if comment is not None:
            acquisition_index = len(content) - 1
            comment_index = len(content[-1].ContentSequence) - 1
            planted.append(
                PlantedValue(
                    f"(0040,A730)[{acquisition_index}].(0040,A730)[{comment_index}].(0040,A160)",
                    comment,
                    "sr_nested_text",
                    patient.plain_name,
                    "instance",
                    series_uid,
                    sop_uid,
                )
            )
    if plant_phi:
        note = f"Scanned for {patient.plain_name}, contact {patient.phone}"
        content.append(text("CONTAINS", ("121106", DCM, "Comment"), note))
        planted.append(
            _sr_plant(len(content) - 1, "(0040,A160)", note, "sr_text", patient.phone, series_uid, sop_uid)
        )
    ds.ContentSequence = content
    return ds, planted


def _sr_plant(
    index: int, value_tag: str, value: str, kind: str, identifier: str, series_uid: str, sop_uid: str
) -> PlantedValue:
    return PlantedValue(
        f"(0040,A730)[{index}].{value_tag}", value, kind, identifier, "instance", series_uid, sop_uid
    )
