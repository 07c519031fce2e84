"""DAVIS evaluation: J/F measures (:mod:`~gazevos.eval.metrics`), scoring a results folder
(:mod:`~gazevos.eval.davis`) and running trackers over DAVIS sequences
(:mod:`~gazevos.eval.runner`)."""

from gazevos.eval.metrics import db_eval_boundary, db_eval_iou, db_statistics

__all__ = ["db_eval_boundary", "db_eval_iou", "db_statistics"]
