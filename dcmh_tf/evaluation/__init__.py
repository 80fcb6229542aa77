"""Evaluation: the metrics of hash codes (MAP, PR, P@N), scoring a run's encoders on its split, the
report and the plots."""

# k of MAP@k in `dcmh-tf evaluate` (clipped to the database size); here, so that the command line
# reads it without loading the metrics (NumPy, tqdm) for `--help`
DEFAULT_TOPK = 500
