"""The DICOM Conformance Statement (PS3.2 style), generated from the tables the network code uses.

It lives in ``orchestration`` because it reads three engines that must not import each other: the
query keys of :class:`resources.pacs.query.PacsQuerier` (recorded by running its own query builders),
the listener's storage table (``resources/listener/storage_sop_classes.yaml``) and settings, and the
DICOM network room's identification, negotiation and status tables. ``dicom-lake conformance --out
docs/conformance-statement.md`` writes it; a test keeps the committed file equal to a fresh generation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import IntEnum
from pathlib import Path

import pydicom.uid
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pynetdicom import (
    ALL_TRANSFER_SYNTAXES,
    PYNETDICOM_IMPLEMENTATION_UID,
    PYNETDICOM_IMPLEMENTATION_VERSION,
)
from pynetdicom import __version__ as pynetdicom_version
from pynetdicom.presentation import DEFAULT_TRANSFER_SYNTAXES

from resources.dicom_network import negotiation, upper_layer
from resources.dicom_network.association_settings import AssociationSettings
from resources.dicom_network.status import FindStatus, GeneralStatus, MoveStatus, StoreStatus
from resources.listener.receive_writer import RELEASE_WAIT_S
from resources.listener.storage_contexts import SOP_CLASS_TABLE, storage_contexts
from resources.pacs.c_get import COMMON_STORAGE_CLASSES
from resources.pacs.query import PacsQuerier
from resources.pacs.storage_scp import MAX_ASSOCIATIONS as RETRIEVAL_SCP_MAX_ASSOCIATIONS
from resources.pacs.storage_scp import storage_sop_classes as retrieval_scp_sop_classes
from resources.site_config import ListenerSettings, PacsSettings

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "conformance-statement.md"

VERIFICATION = upper_layer.VERIFICATION
FIND = "1.2.840.10008.5.1.4.1.2.2.1"  # Study Root Query/Retrieve Information Model - FIND
MOVE = "1.2.840.10008.5.1.4.1.2.2.2"  # ... - MOVE
GET = "1.2.840.10008.5.1.4.1.2.2.3"  # ... - GET

# The listener settings that make up its association policy, in the order the statement lists them.
LISTENER_POLICY_SETTINGS = (
    "ae_title",
    "port",
    "allowed_calling_ae_titles",
    "allowed_hosts",
    "max_associations",
    "acse_timeout_s",
    "dimse_timeout_s",
    "network_timeout_s",
    "tls_certificate",
    "tls_private_key",
    "tls_ca_certificate",
    "engine",
    "fsync",
)
PACS_POLICY_SETTINGS = (
    "calling_ae_title",
    "called_ae_title",
    "scu_engine",
    "acse_timeout_s",
    "dimse_timeout_s",
    "network_timeout_s",
    "max_pdu",
)
REJECTIONS = (
    ("called AE title is not `listener.ae_title`", negotiation.REJECT_CALLED_AE),
    ("calling AE title not in `listener.allowed_calling_ae_titles`", negotiation.REJECT_CALLING_AE),
    ("`listener.max_associations` associations already open", negotiation.REJECT_TOO_MANY),
    ("protocol version without bit 0", negotiation.REJECT_PROTOCOL_VERSION),
    ("application context not the DICOM one", negotiation.REJECT_APPLICATION_CONTEXT),
    ("declared request length over the request limit", negotiation.REJECT_TOO_LARGE),
)


class _KeyRecorder(PacsQuerier):
    """The querier without a network: records each identifier its query builders would send."""

    def __init__(self) -> None:  # no AE, no association: only the builders are used
        self.sent: list[Dataset] = []

    def find(self, query: Dataset) -> list[Dataset]:
        self.sent.append(query)
        return []


def query_keys() -> dict[str, list[tuple[str, str]]]:
    """(keyword, how it is sent) per C-FIND level, from the querier's own builders.

    ``matching`` keys carry a value (a date, a UID of the level above); ``return`` keys are sent empty.
    """
    recorder = _KeyRecorder()
    recorder.find_studies(study_date="20261109")
    recorder.find_series("1.2.3")
    recorder.find_instances("1.2.3", "1.2.3.4")
    keys: dict[str, list[tuple[str, str]]] = {}
    for query in recorder.sent:
        level = str(query.QueryRetrieveLevel)
        rows = keys.setdefault(level, [])
        for element in query:
            keyword = keyword_for_tag(element.tag)
            if keyword == "QueryRetrieveLevel" or any(k == keyword for k, _ in rows):
                continue
            rows.append((keyword, "matching" if element.value not in (None, "") else "return"))
    return keys


def _uid_name(uid: str) -> str:
    name = pydicom.uid.UID(uid).name
    return name if name != uid else "(unnamed)"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _syntaxes(uids: Iterable[str]) -> list[str]:
    return _table(["Transfer syntax", "UID"], ((_uid_name(uid), f"`{uid}`") for uid in uids))


def _statuses(table: type[IntEnum], service: str) -> list[tuple[str, str, str]]:
    def words(member: IntEnum) -> str:
        return member.name.lower().replace("_", " ").replace("sop class", "SOP class")

    rows = ((service, words(member), f"`0x{member.value:04X}`") for member in table)
    return list(rows)


def _sop_classes(uids: Iterable[str]) -> list[str]:
    return _table(["Storage SOP class", "UID"], ((_uid_name(uid), f"`{uid}`") for uid in uids))


def _rejection(why: tuple[int, int, int]) -> str:
    # describe_rejection reads an A-ASSOCIATE-RJ body: the PDU minus its 6-byte header (PS3.8 9.3.1).
    return negotiation.describe_rejection(negotiation.encode_associate_rj(why)[6:])


def _settings(
    model: type[ListenerSettings] | type[PacsSettings], section: str, names: Sequence[str]
) -> list[str]:
    fields = model.model_fields
    rows = []
    for name in names:
        default = fields[name].get_default(call_default_factory=True)
        shown = "(none)" if default in (None, []) else f"`{default}`"
        rows.append((f"`{section}.{name}`", shown))
    return _table(["Setting", "Default"], rows)


def _identification() -> list[str]:
    return [
        "## 1. Implementation",
        "",
        *_table(
            ["Engine", "Implementation Class UID", "Implementation Version Name", "Max PDU we receive"],
            [
                (
                    "native (default: C-FIND, C-MOVE requests; listener; retrieval storage SCP)",
                    f"`{upper_layer.IMPLEMENTATION_CLASS_UID}`",
                    f"`{upper_layer.IMPLEMENTATION_VERSION}`",
                    upper_layer.OUR_MAX_PDU,
                ),
                (
                    f"pynetdicom {pynetdicom_version} (C-ECHO, C-GET; `*_engine: pynetdicom`)",
                    f"`{PYNETDICOM_IMPLEMENTATION_UID}`",
                    f"`{PYNETDICOM_IMPLEMENTATION_VERSION}`",
                    "`pacs.max_pdu` (0: unlimited)",
                ),
            ],
        ),
        "Application context: `" + upper_layer.APPLICATION_CONTEXT + "` (DICOM Application Context Name).",
        "",
        "Extended negotiation: none. The SCU proposes no SOP Class Extended or Common Extended "
        "Negotiation, no asynchronous operations window and no user identity; the SCP ignores such "
        "sub-items, so their defaults apply. The only role selection is SCP/SCU Role Selection for "
        "the storage SOP classes of a C-GET (section 2.4).",
        "",
    ]


def _scu() -> list[str]:
    lines = [
        "## 2. dicom-lake as SCU (retrieval from the PACS)",
        "",
        *_table(
            ["SOP class", "UID", "Role", "Service"],
            [
                (_uid_name(VERIFICATION), f"`{VERIFICATION}`", "SCU", "C-ECHO (`dicom-lake pacs echo`)"),
                (_uid_name(FIND), f"`{FIND}`", "SCU", "C-FIND (study index, retrieval plan)"),
                (_uid_name(MOVE), f"`{MOVE}`", "SCU", "C-MOVE (`retrieval.engine: c-move`)"),
                (_uid_name(GET), f"`{GET}`", "SCU", "C-GET (`retrieval.engine: c-get`)"),
            ],
        ),
        "### 2.1 Transfer syntaxes proposed",
        "",
        "Native requestor (C-FIND, C-MOVE), in order of preference:",
        "",
        *_syntaxes((upper_layer.EXPLICIT_VR_LE, upper_layer.IMPLICIT_VR_LE)),
        "pynetdicom (C-ECHO, C-GET, and C-FIND/C-MOVE with `pacs.scu_engine: pynetdicom`):",
        "",
        *_syntaxes(str(uid) for uid in DEFAULT_TRANSFER_SYNTAXES),
        "### 2.2 C-FIND query keys (Study Root)",
        "",
        "Matching keys carry a value; return keys are sent empty. `PatientID` is sent as a matching key "
        "only when a cohort names patients, and never stored. The IMAGE level leaves `SOPClassUID` out "
        "for image series when the retrieval policy does not need it.",
        "",
    ]
    for level, keys in query_keys().items():
        lines += _table([f"{level} key", "Sent as"], ((f"`{k}`", how) for k, how in keys))
    lines += [
        "### 2.3 C-MOVE",
        "",
        "Study Root, STUDY or SERIES level, destination `pacs.move_destination_ae_title` (default "
        "`pacs.calling_ae_title`): our retrieval storage SCP, started for each retrieval (section 3.2).",
        "",
        "### 2.4 C-GET",
        "",
        "Study Root Get plus, in the same association, each storage SOP class the IMAGE-level C-FIND "
        "reported for the study and these common classes, each with SCP/SCU Role Selection "
        "(SCU role no, SCP role yes) and the pynetdicom transfer syntaxes above:",
        "",
        *_sop_classes(COMMON_STORAGE_CLASSES),
        "### 2.5 Association policy",
        "",
        *_settings(PacsSettings, "pacs", PACS_POLICY_SETTINGS),
        "### 2.6 Statuses read",
        "",
        *_table(
            ["Service", "Status", "Code"],
            [*_statuses(FindStatus, "C-FIND"), *_statuses(MoveStatus, "C-MOVE / C-GET")],
        ),
    ]
    return lines


def _scp(table: Path) -> list[str]:
    contexts = storage_contexts(table)
    defaults = AssociationSettings()
    lines = [
        "## 3. dicom-lake as SCP",
        "",
        "### 3.1 The C-STORE listener (`dicom-lake listen`)",
        "",
        f"Storage SOP classes accepted (table `{table.name}`, version {contexts.table_version}), each "
        "with the SCP role only (no SCU role, no extended negotiation), plus "
        f"{_uid_name(VERIFICATION)} (`{VERIFICATION}`) as SCP:",
        "",
        *_sop_classes(contexts.sop_class_uids),
        "Transfer syntaxes accepted, the first proposed by the sender that is in this list (files are "
        "stored as received, never transcoded):",
        "",
        *_syntaxes(contexts.transfer_syntax_uids),
        "Association policy (site file, `listener` section):",
        "",
        *_settings(ListenerSettings, "listener", LISTENER_POLICY_SETTINGS),
        "TLS: off unless `listener.tls_certificate` and `listener.tls_private_key` are set; then TLS "
        "(Python `ssl`, server purpose, the platform's default protocol floor); with "
        "`listener.tls_ca_certificate` a client certificate from that CA is required (mutual TLS). "
        "An empty `listener.allowed_calling_ae_titles` refuses every sender; an empty "
        "`listener.allowed_hosts` admits any host.",
        "",
        "When Success (`0x0000`) is answered to a C-STORE: with `listener.fsync` on, once the instance "
        "is in the listener's journal and fdatasynced (it survives a power cut); its spool file and "
        "index row are written behind, and the A-RELEASE-RP is sent once everything the association "
        f"sent is in the spool (at most {RELEASE_WAIT_S:g} s, or at once while the spool cannot be "
        "written: the instances wait in the journal). While the spool cannot be written, C-STOREs are "
        "answered `0xA700`. With `listener.fsync` off, Success follows the file's atomic rename and its "
        "index row.",
        "",
        "Associations refused (A-ASSOCIATE-RJ):",
        "",
        *_table(
            ["When", "Result, reason (source)"],
            ((when, _rejection(why)) for when, why in REJECTIONS),
        ),
        "### 3.2 The retrieval storage SCP (C-MOVE destination)",
        "",
        "Started for each C-MOVE retrieval on `pacs.storage_scp_port`: every storage SOP class "
        f"pynetdicom {pynetdicom_version} knows ({len(retrieval_scp_sop_classes())} classes) in every "
        f"transfer syntax it knows ({len(ALL_TRANSFER_SYNTAXES)}), any calling AE title, at most "
        f"{RETRIEVAL_SCP_MAX_ASSOCIATIONS} associations at once; instances not asked for are refused "
        "(see the statuses below).",
        "",
        "### 3.3 Statuses answered",
        "",
        *_table(
            ["Service", "Status", "Code"],
            [("C-ECHO", "success", f"`0x{GeneralStatus.SUCCESS:04X}`"), *_statuses(StoreStatus, "C-STORE")],
        ),
        "### 3.4 Timeouts",
        "",
        "Association set-up and release (ACSE), a DIMSE message under way, and an idle association are "
        "bounded by the `*_timeout_s` settings above (engine defaults "
        f"{defaults.acse_timeout_s:g} s, {defaults.dimse_timeout_s:g} s, {defaults.network_timeout_s:g} s); "
        "TCP_NODELAY is set on every socket.",
        "",
    ]
    return lines


def conformance_statement(sop_class_table: Path = SOP_CLASS_TABLE) -> str:
    """The statement as Markdown, from the code's tables (``sop_class_table``: the listener's storage table).

    Raises
    ------
    resources.listener.errors.ListenerConfigError
        If the storage table names an unknown SOP class or transfer syntax.
    """
    lines = [
        "# dicom-lake DICOM Conformance Statement",
        "",
        "<!-- Generated by `dicom-lake conformance --out docs/conformance-statement.md` from the tables "
        "the code uses; edit those, not this file. -->",
        "",
        "dicom-lake retrieves studies from a PACS (Query/Retrieve SCU) and receives what a PACS forwards "
        "(Storage SCP), for de-identification and dose audit. It creates no SOP instances on the network "
        "and offers no query or retrieve service.",
        "",
        *_identification(),
        *_scu(),
        *_scp(sop_class_table),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"
