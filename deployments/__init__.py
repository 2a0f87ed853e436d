"""Prefect deployments of the product's flows (what the scheduler and the UI's Run button start)."""
