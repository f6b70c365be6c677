"""Function providers: where functions run (local host processes; later Kubernetes)."""
