"""Bundles, on-device verification and fleet deploys (Ansible)."""
