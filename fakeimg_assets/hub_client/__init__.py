"""Verified Hub I/O: what a Hub endpoint answers is checked before it becomes a path,
a revision or a file, and files reach the cache only through fakeimg's own writer.

Below both the `HubResource` (resources/hub.py) and everything that downloads (sampling,
real photos, detector weights), so no caller can reach huggingface_hub's trusting cache
code by accident.
"""
