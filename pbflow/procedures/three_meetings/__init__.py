"""Three meetings and one lesson (DOMAIN.md section 3): records of meetings, not a workflow."""
