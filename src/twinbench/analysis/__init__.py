"""Analysis of records: pairwise framework comparisons and merging of repeated processes."""
