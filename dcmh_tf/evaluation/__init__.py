"""Evaluation: the metrics of hash codes (MAP, PR, P@N), scoring a run's encoders on its split, the
report and the plots."""
