"""Turning registered experiments into running jobs: worker processes, device slots, executors."""
