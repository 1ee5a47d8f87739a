"""The lead activity log's core: the contract, the pure domain, storage, use cases and the stream
consumer (docs/ARCHITECTURE.md).
"""
