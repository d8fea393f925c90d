"""Execution: replaying a handler against a run's recorded history, and the worker that runs them."""
