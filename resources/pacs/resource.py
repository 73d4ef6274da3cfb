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
from resources.site_config import PacsSettings, SiteConfig
from resources.site_resource import SiteConfigResource
from resources.spool import SpoolStore


def retrieval_options(config: SiteConfig, partition_key: str | None = None) -> RetrievalOptions:
    """The retrieval settings of the partition's source (with one source: the site's) as engine options."""
    source = config.source_for(partition_key)
    pacs, retrieval = source.pacs, source.retrieval
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

    With several sources, each partition key names its source (``2026-11-09|east``) and that source's
    PACS, limits and storage SCP are used; ``source`` picks one for the calls that take no partition.

    Public API: :meth:`echo`, :meth:`find_studies`, :meth:`index_partition`,
    :meth:`retrieve_partition`, :meth:`spool`.
    """

    site: SiteConfigResource

    def config(self) -> SiteConfig:
        return self.site.load()

    def pacs_settings(self, partition_key: str | None = None, source: str | None = None) -> PacsSettings:
        config = self.config()
        if partition_key is not None:
            return config.source_for(partition_key).pacs
        return config.source_named(source).pacs

    def peer(self, partition_key: str | None = None, source: str | None = None) -> PeerAddress:
        return peer_from_settings(self.pacs_settings(partition_key, source))

    def network(self, partition_key: str | None = None, source: str | None = None) -> NetworkOptions:
        return NetworkOptions.from_settings(self.pacs_settings(partition_key, source))

    def spool(self) -> SpoolStore:
        return SpoolStore(self.config().paths.spool)

    def echo(self, source: str | None = None) -> float:
        """C-ECHO round trip in seconds (raises :class:`PacsError` subclasses on failure)."""
        return echo(self.peer(source=source), self.network(source=source))

    def find_studies(self, study_date: str, source: str | None = None) -> list[StudyRow]:
        """STUDY-level C-FIND for one ISO date (``YYYY-MM-DD``)."""
        with PacsQuerier(self.peer(source=source), self.network(source=source)) as querier:
            return querier.find_studies(study_date=partition_date_to_dicom(study_date))

    def index_partition(self, partition_key: str) -> IndexSummary:
        """C-FIND the partition (date or cohort mode), select, and replace its index rows in the spool."""
        config = self.config()
        selection = config.selection
        cohort = None
        if selection.mode == "cohort" and selection.cohort_csv is not None:
            cohort = read_cohort_csv(config.resolve_path(selection.cohort_csv), selection.cohort_key)
        with PacsQuerier(self.peer(partition_key), self.network(partition_key)) as querier:
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
            self.peer(partition_key),
            self.network(partition_key),
            retrieval_options(config, partition_key),
            spool,
            partition_key,
        )
        return retriever.retrieve(studies)
