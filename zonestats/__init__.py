"""zonestats: pull, audit and load the statistics of Shanxi's transformation demonstration zones."""

__version__ = "0.1.0"
