"""The durable queue of asynchronous calls, as a library (interface, envelope, backends)."""
