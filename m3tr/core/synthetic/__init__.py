"""Procedural test and demo data: small videos (PyAV) and Hawkes event logs."""
