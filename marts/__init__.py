"""Derived tables from the current observations: monthly values, the zone evaluation, the R&D subsidy."""
