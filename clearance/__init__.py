"""Technical survey, clearance, land release accounting, QA/QC and summaries."""
