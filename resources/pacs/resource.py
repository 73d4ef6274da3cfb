"""The Dagster face of the PACS engine: ``PacsResource(site=SiteConfigResource(...))``."""

from __future__ import annotations

import dagster as dg

from resources.dicom_network.association import NetworkOptions, PeerAddress, echo, peer_from_settings
from resources.pacs.find_results import StudyRow
from resources.pacs.query import PacsQuerier
from resources.pacs.retrieve import PartitionRetriever, RetrievalOptions, RetrievalSummary
from resources.pacs.selection import StudySelector, read_cohort_csv
from resources.pacs.study_index import (
    IndexSummary,
    index_partition,
    partition_date_to_dicom,
    read_partition_index,
)
from resources.site_config import SiteConfig
from resources.site_resource import SiteConfigResource
from resources.spool import SpoolStore


def retrieval_options(config: SiteConfig) -> RetrievalOptions:
    """The retrieval settings of a site file as engine options."""
    pacs, retrieval = config.pacs, config.retrieval
    return RetrievalOptions(
        policy=retrieval.policy,
        method=pacs.retrieve_method,
        move_destination_ae_title=pacs.destination_ae_title,
        storage_scp_bind=pacs.storage_scp_bind,
        storage_scp_port=pacs.storage_scp_port,
        storage_scp_engine=pacs.storage_scp_engine,
        max_retries=retrieval.max_retries,
        retry_backoff_s=retrieval.retry_backoff_s,
        concurrent_moves=retrieval.concurrent_moves,
        receiving_processes=retrieval.receiving_processes,
        max_moves_per_minute=retrieval.max_moves_per_minute,
        allowed_windows=tuple(retrieval.allowed_windows),
    )


class PacsResource(dg.ConfigurableResource):
    """Query and retrieve against the site's PACS; everything comes from the site file.

    Public API: :meth:`echo`, :meth:`find_studies`, :meth:`index_partition`,
    :meth:`retrieve_partition`, :meth:`spool`.
    """

    site: SiteConfigResource

    def config(self) -> SiteConfig:
        return self.site.load()

    def peer(self) -> PeerAddress:
        return peer_from_settings(self.config().pacs)

    def network(self) -> NetworkOptions:
        return NetworkOptions.from_settings(self.config().pacs)

    def spool(self) -> SpoolStore:
        return SpoolStore(self.config().paths.spool)

    def echo(self) -> float:
        """C-ECHO round trip in seconds (raises :class:`PacsError` subclasses on failure)."""
        return echo(self.peer(), self.network())

    def find_studies(self, study_date: str) -> list[StudyRow]:
        """STUDY-level C-FIND for one ISO date (``YYYY-MM-DD``)."""
        with PacsQuerier(self.peer(), self.network()) as querier:
            return querier.find_studies(study_date=partition_date_to_dicom(study_date))

    def index_partition(self, partition_key: str) -> IndexSummary:
        """C-FIND the partition (date or cohort mode), select, and replace its index rows in the spool."""
        config = self.config()
        selection = config.selection
        cohort = None
        if selection.mode == "cohort" and selection.cohort_csv is not None:
            cohort = read_cohort_csv(config.resolve_path(selection.cohort_csv), selection.cohort_key)
        with PacsQuerier(self.peer(), self.network()) as querier:
            return index_partition(
                querier,
                self.spool(),
                partition_key,
                StudySelector.from_settings(selection),
                cohort=cohort,
                cohort_key=selection.cohort_key,
            )

    def retrieve_partition(self, partition_key: str) -> RetrievalSummary:
        """Retrieve the partition's selected studies (as indexed) into the spool."""
        config = self.config()
        spool = self.spool()
        studies = read_partition_index(spool, partition_key)
        retriever = PartitionRetriever(
            self.peer(), self.network(), retrieval_options(config), spool, partition_key
        )
        return retriever.retrieve(studies)
