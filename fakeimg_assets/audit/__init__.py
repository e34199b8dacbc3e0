"""Shortcut audit: can metadata alone tell fake from real? If so, the detector must not train."""
