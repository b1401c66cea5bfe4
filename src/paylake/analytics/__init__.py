"""Analyst and operator views of the local lakehouse: SQL, run and quarantine reports, the HTML dashboard."""
