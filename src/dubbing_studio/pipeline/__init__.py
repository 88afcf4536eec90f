"""The dubbing pipeline: small rerunnable stages whose outputs are keyed by their inputs."""
