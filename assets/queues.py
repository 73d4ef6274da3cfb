"""The celery queue each step goes to when runs use the celery executor (``orchestration/executors.py``).

PACS-facing steps (C-FIND, C-MOVE / C-GET into the spool) and CPU-bound steps (de-identification,
curation, dose, reports) go to different queues, so that ``dicom-lake worker --queues pacs`` can run
beside the archive and ``--queues cpu`` wherever there are cores. With the default executor the tags
change nothing.
"""

PACS_QUEUE = "pacs"
CPU_QUEUE = "cpu"
_QUEUE_TAG = "dagster-celery/queue"

PACS_STEP = {_QUEUE_TAG: PACS_QUEUE}
CPU_STEP = {_QUEUE_TAG: CPU_QUEUE}
