"""Who answers for each stage's assets (shown in the Dagster UI)."""

# Retrieval, de-identification and curation: the radiology data engineers who run the pipeline.
DATA_ENGINEERING = ["team:radiology-data-engineering"]
# Dose analysis and reports: the medical physicists who sign off dose audits.
MEDICAL_PHYSICS = ["team:medical-physics"]
