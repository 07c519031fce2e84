"""The gaze layer: synchronisation, fixations, gaze-to-object mapping, AOI metrics, annotate."""
