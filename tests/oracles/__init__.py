"""Independent oracles: plain-Python statements of what production computes, for tests."""
