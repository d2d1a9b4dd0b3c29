"""Built-in evaluation tasks, one module each, registered by name in ``syllabus.evaluate.task.TASKS``."""
