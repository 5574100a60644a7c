"""Prefect deployments of Qorgau: served from one process (`serve.py`, `qorgau serve`) or declared for process work pools (`prefect.yaml`)."""
