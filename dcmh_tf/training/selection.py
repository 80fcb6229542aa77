"""Honest model selection: epochs are chosen on validation queries carved from the database.

Every `eval_every` epochs the encoders are scored on the run's validation queries
(`Split.validation`, drawn from the database and kept out of training) against the rest of the
database; the score of an evaluation is the mean of its I→T and T→I MAP. With `keep_best` the
weights of the best score so far are kept in RUN/best/; with `patience` training stops after that
many evaluations without a better score. The query set is never looked at during training: it is
scored once, at the end, for the encoders that were kept. The curve is RUN/validation.json, so a
resumed run goes on with its best score and patience.
"""

from __future__ import annotations

from typing import Any

from dcmh_tf.evaluation.scoring import evaluate_encoders
from dcmh_tf.run_directory import best_record, score


class ModelSelection:
    """The validation curve of one run, and what it decides: the epoch kept and when to stop."""

    def __init__(self, run, config, data, split):
        self.run, self.config, self.data = run, config, data
        self.split = split.validation_protocol()
        self.history = run.read_validation()

    @property
    def best(self) -> dict[str, Any] | None:
        return best_record(self.history)

    def is_due(self, epochs_done: int) -> bool:
        return bool(self.config.eval_every) and epochs_done % self.config.eval_every == 0

    def evaluate(self, image_encoder, text_encoder, epoch: int, scoring=None) -> dict[str, Any]:
        """Score the encoders after `epoch` epochs on the validation queries, record it, and with
        keep_best save their weights when the score is the best so far. Returns the record, with
        "best" True when it is. `scoring`: (image encoder, data) to score with instead, e.g. the layers
        above frozen stages on their cached activations (the same codes, computed faster)."""
        scorer, data = scoring if scoring is not None else (image_encoder, self.data)
        metrics = evaluate_encoders(scorer, text_encoder, data, self.split, self.config.batch_size, spread=False)
        record = {"epoch": epoch, "map_i2t": metrics["map_i2t"], "map_t2i": metrics["map_t2i"],
                  "n_validation": metrics["n_query"], "n_database": metrics["n_database"]}
        earlier = [r for r in self.history if r["epoch"] < epoch]  # a resumed run redoes later epochs
        previous = best_record(earlier)
        self.history = earlier + [record]
        improved = previous is None or score(record) > score(previous)
        if improved and self.config.keep_best:
            self.run.save_best(image_encoder, text_encoder)
        self.run.write_validation(self.history)
        return dict(record, best=improved)

    def should_stop(self) -> bool:
        """Early stopping: `patience` evaluations in a row without a better score than the best."""
        best = self.best
        if not self.config.patience or best is None:
            return False
        return sum(record["epoch"] > best["epoch"] for record in self.history) >= self.config.patience

    def restore_kept(self, image_encoder, text_encoder) -> int | None:
        """With keep_best, load the best encoders' weights and return their epoch; else None."""
        best = self.best
        if not self.config.keep_best or best is None:
            return None
        self.run.load_best(image_encoder, text_encoder)
        return int(best["epoch"])
