"""The embedded dataset's generator: procedural Human3.6M-like motion, cameras, detections, GMMs.

    from mmdiff.data.synthetic import write_dataset
    paths = write_dataset("data/synthetic", seed=0)     # the files of ``mmdiff data synth``

Modules, in the order the data flows:

    body.py       32-joint skeleton: bone offsets, joint angles and limits, FK, floor placement
    signals.py    smooth random signals in time (keyframes, held values, gates)
    programme.py  Style (per subject), Ctx (per take), Motion (a programme's output)
    postures.py   arm poses, a plausible-arm sampler, idle stance, gait (joint-angle sets)
    whole_body.py sitting on a chair or the floor, kneeling, squatting, bending, lunging
    paths.py      paths on the floor and headings
    behaviours.py wandering, gesturing, leaning at the hips, sitting down and getting up
    actions.py    the 15 action programmes (PROGRAMMES), in actions_standing, _seated, _walking
    contact.py    feet planted in stance (steps, leg IK), hands resting on the floor
    detector.py   the simulated CPN-like 2D detector, with its heatmap evidence
    observe.py    cameras + detector applied to any 3D motion: detections and GMM files
    generate.py   takes -> world joints, observations per camera, the four files
    stats.py      motion statistics, to compare with real motion
"""
from mmdiff.data.synthetic.generate import (FILES, FRAMES_PER_TAKE, MARGIN_PX, SAMPLE_ACTIONS,
                                            SAMPLE_FRAMES, SAMPLE_SUBJECTS, SUBJECTS, animate,
                                            animate_in_view, area_centre, make_observations,
                                            make_positions_3d, make_sequence, subject_rng,
                                            write_dataset, write_sample)
from mmdiff.data.synthetic.stats import (canonical_17, compare_statistics, motion_statistics,
                                         stance_drift)

__all__ = ["FILES", "FRAMES_PER_TAKE", "MARGIN_PX", "SAMPLE_ACTIONS", "SAMPLE_FRAMES",
           "SAMPLE_SUBJECTS", "SUBJECTS", "animate", "animate_in_view", "area_centre",
           "make_observations", "make_positions_3d", "make_sequence", "subject_rng",
           "write_dataset", "write_sample", "canonical_17", "compare_statistics",
           "motion_statistics", "stance_drift"]
