# Sampling bindings (placeholder until the sampling work lands).
