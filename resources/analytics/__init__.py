"""Department analyses (activity, devices, workflow, population, data quality), aggregated in SQL."""
