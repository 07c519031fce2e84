"""Settings of the ``classic`` tracker (shipped preset: ``configs/classic.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass

from gazevos.config import setting


@dataclass(frozen=True)
class ClassicConfig:
    """Every tunable of the ``classic`` tracker.

    Sizes in pixels are on the work grid (the frame resized by ``work_scale``);
    object sizes are the square root of the object's area on that grid.  Each field's
    limits (:func:`gazevos.config.setting`) are checked when a config is loaded.

    Attributes:
        work_scale: frames are resized by this factor before flow, features and
            classification; probabilities are upsampled back to the frame size.
        min_work_height: ... but never below this many rows (small frames keep more of
            their resolution; the scale is capped at 1).
        max_work_pixels: ... and never above this many pixels (0: no cap): the cost of a
            step grows with the work grid, so a 1080p or 1600x1200 scene video is tracked
            on a grid the size of a 480p video's (854x480 at 0.5 is 102,480 pixels).
        dis_preset: OpenCV DIS optical-flow preset: ``ultrafast``, ``fast`` or ``medium``.
        dis_finest_scale: DIS finest pyramid level (0: the work grid; -1: the preset's).
        dis_patch_stride: DIS patch stride, pixels (-1: the preset's).
        dis_descent_iterations: DIS gradient-descent iterations per patch (-1: the preset's).
        dis_refine_iterations: DIS variational refinement iterations (-1: the preset's; it
            smooths the flow across object boundaries).
        binarize_prior: remember each frame's hard labels, not its probabilities, as the
            next frame's prior.
        flow_check: run a forward-backward consistency check of the optical flow.
        flow_check_preset: DIS preset of the check's forward flow: ``same`` (the settings
            above) or a cheaper preset (``fast``, ``ultrafast``; no refinement).
        flow_check_relative: a pixel fails the check when the round-trip error exceeds
            this fraction of the squared flow magnitudes ...
        flow_check_absolute: ... plus this many squared pixels.
        flow_check_photometric: when > 0 the check is photometric instead (one optical
            flow less per frame; 0: forward-backward): a pixel fails it when its grey
            level differs from the previous frame's, warped by the flow, by more than this
            many grey levels.
        flow_check_confirm: ... and when more than this fraction of the frame fails it
            (a cut, a fast head turn: grey levels can match by chance there), the
            forward-backward check runs as well and decides (1: never).
        unreliable_prior: the prior of pixels that fail the check is capped at this.
        view_change_fraction: when more than this fraction of the frame fails the check,
            the view changed (a cut, a fast head turn away): the flow cannot carry the
            objects, so each one is searched for again as a lost object is (1: off; DAVIS
            and the real recordings stay below 0.3, a cut is above 0.9).
        mean_radii: radii of the square windows of the LAB local-mean features.
        texture_radius: window radius of the lightness-deviation and gradient-energy features.
        use_position: add the pixel's position relative to the object (centroid, size).
        position_jitter: standard deviation (object sizes) of the noise added to the
            position features of training samples (position stays a coarse cue).
        boost_rounds: boosting iterations of the pixel classifier.
        boost_leaves: leaves per boosting tree.
        boost_learning_rate: shrinkage per boosting tree.
        boost_min_leaf: minimum samples in a leaf (XGBoost: a hessian of a quarter of it,
            as many samples at probability 0.5).
        balance_classes: draw as many object as background samples from each frame
            (repeating pixels of a small object), so that the classes weigh the same.
        boost_threads: OpenMP threads of the classifier (0: all; 1 is robust on a busy machine).
        boost_library: the boosted trees' library: ``xgboost`` (its fit releases the
            interpreter lock, its predictions are about 3x faster) or ``sklearn``
            (scikit-learn's ``HistGradientBoostingClassifier``).
        boost_l2: L2 penalty on the trees' leaf values (XGBoost's ``reg_lambda``,
            scikit-learn's ``l2_regularization``).
        boost_bins: histogram bins per feature (scikit-learn: at most 255); a fit's cost
            grows with them.
        samples_per_class: object / background samples drawn from one frame.
        far_background_fraction: share of background samples drawn outside the sampling band.
        recent_object_needs_prior: object samples of tracked frames must also lie in the
            flow prior (not only in the fused mask): slows the spread of errors.
        recent_background_margin: background samples of tracked frames keep this many band
            widths away from the mask (0: none).
        recent_frames: frames of confident samples kept next to the given-mask samples.
        anchor_weight: the given mask's samples enter every re-training this many times
            (1: as often as one recent frame's): the first view keeps more say against
            recent frames whose masks may have lost parts of the object or taken in
            background.
        recent_anchor_check: object samples of tracked frames that a classifier of the
            given mask's samples alone (no position features) rates below this are not
            learnt: pixels of a drift onto the background (0: off).
        sample_every: confident samples are taken from every this-many-th tracked frame.
        retrain_every: the classifier is re-trained every this-many tracked frames.
        fit_defer: a re-training runs in the background while the previous classifier
            answers this many more frames (its CPU time overlaps theirs).
        confident_object: fused probability above which a pixel is an object sample.
        confident_background: fused probability below which a pixel is a background sample.
        band_fraction: the classifier runs within this many object sizes of the warped mask.
        band_motion_gain: the band is at least this many times the object's motion
            (90th percentile of the flow on it, pixels): fast parts leave the flow behind.
        band_min: smallest band width, pixels.
        band_max: largest band width, pixels.
        interior_stride: deeper inside the warped mask than the band, the classifier runs
            on every this-many-th row and column only (speed; 1: every pixel).
        band_stride: the classifier runs on every this-many-th row and column of the band
            too, and the band's pixels take the bilinear interpolation of its answers
            (speed; 1: every band pixel, the deep interior at ``interior_stride``).
        classify_every: the classifier runs on every this-many-th frame only; the frames
            in between carry each mask forward by the optical flow alone (no features, no
            classifier, no sampling: speed; 1: every frame).
        skip_agreement: adaptive carrying (speed; 0: off).  When on the last classified
            frame every tracked object's final mask agreed with its flow prior at least
            this well (intersection over union), the next frame is carried by the flow
            alone, as between ``classify_every`` frames: where the flow alone was right,
            the classifier is skipped.  A lost object vetoes it (it is searched for on
            every frame).
        skip_max: at most this many frames in a row are carried by ``skip_agreement``.
        skip_error_ratio: ... and not a frame that the flow explains worse: when the mean
            absolute grey-level difference between the frame and the previous one warped
            by the flow, over the whole frame or inside the objects' warped masks (the
            worst object's), exceeds this many times its value on the last classified
            frame (at least 1 grey level), the frame is classified (the view changed, an
            object vanished, was covered or changed; 0: no test).
        train_band_factor: background samples come from a band this many times wider.
        classifier_blur: the classifier's probabilities are smoothed with a Gaussian of this
            sigma (pixels) before fusion (0: off).
        prior_weight: weight of the flow prior's log-odds in the fusion.
        classifier_weight: weight of the classifier's log-odds in the fusion.
        fusion_bias: added to the fused log-odds (negative: favour background).
        prior_blur: the warped prior is blurred with a Gaussian of this sigma (pixels):
            the flow is uncertain by a few pixels, so the classifier decides near the edge.
        prior_min: the prior probability is clipped to [prior_min, prior_max] before
            log-odds; a low ``prior_min`` makes adding pixels far from the object hard ...
        prior_max: ... a ``prior_max`` well below 1 lets the classifier remove object pixels
            that the flow carried wrongly.
        classifier_floor: the classifier's probability is clipped to [floor, 1 - floor].
        keep_min_prior: a connected component of the fused mask is kept only if its mean
            prior probability reaches this (drops distractors that appear in the band).
        min_component_fraction: components smaller than this fraction of the object's
            largest component are dropped (stray blobs the flow carries along).
        component_max_gap: components of the fused mask farther than this many object
            sizes from its largest component are dropped (a piece of background the mask
            took in where it touched the object, carried away by the flow; 0: off).
        hole_fraction: background holes smaller than this fraction of the object are filled.
        lost_area_fraction: the object counts as lost (occluded or out of view) when its
            area falls below this fraction of its reference area.
        reference_frames: recent tracked areas whose median is the reference area.
        reacquire_near_probability: mean classifier probability a candidate region near
            the last position needs to be taken as the re-appeared object.
        reacquire_far_probability: same for a candidate anywhere in the frame (and for
            every candidate after a view change).
        reacquire_near_radius: "near" means within this many object sizes of the last centroid.
        reacquire_min_area: candidate area, as a fraction of the reference area, at least.
        reacquire_max_area: candidate area, as a fraction of the reference area, at most.
        reacquire_min_similarity: a candidate's LAB colour histogram must match the given
            object's this well (Bhattacharyya coefficient, 0..1).
        histogram_bins: bins per LAB channel of that histogram.
        reacquire_stride: the lost-object search evaluates the classifier on every this-many-th
            pixel (speed).
        reacquire_prior: prior probability given to a re-acquired region.
        reacquire_model: the classifier of the lost-object search: ``tracking`` (the
            tracking classifier: given-mask and recent samples, position relative to the
            last position) or ``anchor`` (fitted, when the object is first lost, on the
            given mask's samples only and without position features: the recent samples
            and the last position may be those of a mask that drifted onto the background),
            or ``anchor-after-collapse`` (``anchor`` for an object lost because its area
            collapsed, ``tracking`` for one lost at a view change, where the tracking
            classifier had no drift to learn).
        reacquire_rank: among the candidates that pass, the lost-object search takes the
            one with the highest mean classifier probability (``probability``) or colour
            histogram similarity to the given object (``similarity``).
        reacquire_restart: when a lost object is found again, its tracking classifier
            forgets the recent samples and is re-trained on the given mask's at once
            (they may be those of the drift that lost it).
        seed: random seed (sampling, boosting).
        learned_features: extra classifier features from a learned encoder: ``none`` or
            ``mast`` (the MAST encoder; its weights are the tracker's ``checkpoint``,
            default the shipped model).
        learned_scale: frames are resized by this factor before the learned encoder.
        learned_dims: the learned features are reduced to this many principal components
            (fitted on each video's first frame).
    """

    work_scale: float = setting(0.5, ge=0.05, le=1.0)
    min_work_height: int = setting(240, ge=1)
    max_work_pixels: int = setting(110_000, ge=0)
    dis_preset: str = setting("medium", choices=("ultrafast", "fast", "medium"))
    dis_finest_scale: int = setting(-1, ge=-1, le=10)
    dis_patch_stride: int = setting(-1, ge=-1, le=8)  # <= the presets' 8-px patches
    dis_descent_iterations: int = setting(-1, ge=-1, le=1000)
    dis_refine_iterations: int = setting(0, ge=-1, le=100)
    binarize_prior: bool = False
    flow_check: bool = True
    flow_check_preset: str = setting("same", choices=("same", "ultrafast", "fast", "medium"))
    flow_check_relative: float = setting(0.01, ge=0.0)
    flow_check_absolute: float = setting(0.5, ge=0.0)
    flow_check_photometric: float = setting(10.0, ge=0.0, le=255.0)
    flow_check_confirm: float = setting(0.3, ge=0.0, le=1.0)
    unreliable_prior: float = setting(0.5, ge=0.0, le=1.0)
    view_change_fraction: float = setting(0.6, ge=0.0, le=1.0)
    mean_radii: tuple[int, ...] = setting((2, 6), ge=1, le=1000)
    texture_radius: int = setting(3, ge=1, le=1000)
    use_position: bool = True
    position_jitter: float = setting(0.25, ge=0.0)
    boost_rounds: int = setting(40, ge=1, le=10_000)
    boost_leaves: int = setting(15, ge=2, le=4096)
    boost_learning_rate: float = setting(0.2, gt=0.0)
    boost_min_leaf: int = setting(1, ge=1)
    boost_threads: int = setting(1, ge=0, le=1024)
    boost_library: str = setting("xgboost", choices=("xgboost", "sklearn"))
    boost_l2: float = setting(0.0, ge=0.0)
    boost_bins: int = setting(256, ge=2, le=1024)
    balance_classes: bool = True
    samples_per_class: int = setting(1500, ge=1, le=1_000_000)
    far_background_fraction: float = setting(0.33, ge=0.0, le=1.0)
    recent_object_needs_prior: bool = True
    recent_background_margin: float = setting(0.0, ge=0.0)
    recent_frames: int = setting(2, ge=0, le=1000)
    anchor_weight: int = setting(1, ge=1, le=100)
    recent_anchor_check: float = setting(0.0, ge=0.0, le=1.0)
    sample_every: int = setting(5, ge=1)
    retrain_every: int = setting(10, ge=1)
    fit_defer: int = setting(1, ge=0, le=100)
    confident_object: float = setting(0.9, ge=0.0, le=1.0)
    confident_background: float = setting(0.1, ge=0.0, le=1.0)
    band_fraction: float = setting(0.12, ge=0.0)
    band_motion_gain: float = setting(3.0, ge=0.0)
    band_min: int = setting(6, ge=0)
    band_max: int = setting(40, ge=1)
    interior_stride: int = setting(2, ge=1)
    band_stride: int = setting(2, ge=1, le=16)
    classify_every: int = setting(1, ge=1, le=100)
    skip_agreement: float = setting(0.97, ge=0.0, le=1.0)
    skip_max: int = setting(2, ge=1, le=100)
    skip_error_ratio: float = setting(2.0, ge=0.0)
    train_band_factor: float = setting(2.0, ge=0.0)
    classifier_blur: float = setting(0.0, ge=0.0)
    prior_weight: float = setting(1.0, ge=0.0)
    classifier_weight: float = setting(1.0, ge=0.0)
    fusion_bias: float = 0.0
    prior_blur: float = setting(1.5, ge=0.0)
    prior_min: float = setting(0.1, gt=0.0, lt=1.0)
    prior_max: float = setting(0.8, gt=0.0, lt=1.0)
    classifier_floor: float = setting(0.01, gt=0.0, lt=0.5)
    keep_min_prior: float = setting(0.2, ge=0.0, le=1.0)
    min_component_fraction: float = setting(0.1, ge=0.0, le=1.0)
    component_max_gap: float = setting(0.0, ge=0.0)
    hole_fraction: float = setting(0.05, ge=0.0)
    lost_area_fraction: float = setting(0.1, ge=0.0, le=1.0)
    reference_frames: int = setting(10, ge=1, le=1000)
    reacquire_near_probability: float = setting(0.6, ge=0.0, le=1.0)
    reacquire_far_probability: float = setting(0.9, ge=0.0, le=1.0)
    reacquire_near_radius: float = setting(2.0, ge=0.0)
    reacquire_min_area: float = setting(0.3, ge=0.0)
    reacquire_max_area: float = setting(3.0, ge=0.0)
    reacquire_min_similarity: float = setting(0.7, ge=0.0, le=1.0)
    histogram_bins: int = setting(8, ge=1, le=256)
    reacquire_stride: int = setting(2, ge=1)
    reacquire_prior: float = setting(0.7, ge=0.0, le=1.0)
    reacquire_model: str = setting("anchor-after-collapse",
                                   choices=("tracking", "anchor", "anchor-after-collapse"))
    reacquire_rank: str = setting("probability", choices=("probability", "similarity"))
    reacquire_restart: bool = True
    seed: int = setting(0, ge=0)
    learned_features: str = setting("none", choices=("none", "mast"))
    learned_scale: float = setting(0.5, ge=0.05, le=2.0)
    learned_dims: int = setting(8, ge=1, le=1024)
