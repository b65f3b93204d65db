"""Measuring generators and directions with judges trained on real data."""
