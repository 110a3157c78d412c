"""kb: cited search over safeguarding reports."""

__version__ = "0.1.0"
