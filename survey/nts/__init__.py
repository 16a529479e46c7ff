"""Non-technical survey reports and evidence points."""
