"""Applied methods, by theme: off-topic detection, bad-label scores, dialogue tracking."""
