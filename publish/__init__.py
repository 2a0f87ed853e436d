"""What statisticians take away: exports (xlsx, csv, SDMX-CSV) and the illustrated report."""
