# Attention bindings (placeholder until the attention work lands).
