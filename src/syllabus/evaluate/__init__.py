"""Evaluation: tasks, scoring and honest before/after statistics (``syllabus.evaluate.stats``)."""
