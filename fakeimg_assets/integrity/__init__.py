"""Crash consistency of what fakeimg writes: partition publishing, leftovers, `verify`."""
