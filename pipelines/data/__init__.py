"""Data: readers, splits, inline annotations, tag schemes, word alignment, batching, word features."""
