"""The operators' view of the running service: the jobs dashboard and the schedules admin."""
