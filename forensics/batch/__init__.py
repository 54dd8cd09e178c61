"""Volume review: worker pool, ``scan`` into a resumable results file, the HTML ``report``."""
