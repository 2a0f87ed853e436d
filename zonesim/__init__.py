"""zonesim."""
