"""Training: Algorithm 1's alternating loop, its loss, the distribution strategy, model selection on the
validation split, and the memory estimate made before the first step."""
