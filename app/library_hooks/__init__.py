"""Every hook into a third-party library's private internals, and nothing else."""
