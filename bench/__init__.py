"""Benchmarks of the chat cluster against a Node Socket.IO peer (docs/performance.md)."""
