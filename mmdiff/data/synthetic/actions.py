"""Motion programmes: one procedural generator of joint angles per Human3.6M action.

Each programme f(ctx, take) -> :class:`~mmdiff.data.synthetic.programme.Motion` (take 1 or 2)
composes the building blocks of :mod:`~.postures` (arm poses, a plausible-arm sampler, stance,
gait), :mod:`~.whole_body` (chair, floor, kneeling, squatting, bending, lunging),
:mod:`~.behaviours` (wandering, gesturing, sitting down) and :mod:`~.paths` (loops, wandering
between spots). All timing is in seconds and converted with the frame rate. Every subject's
style and every take's timing come from the random generator, so no two subjects (and no two
takes) share poses. The programmes live in three modules, by how the action is done:
:mod:`~.actions_standing`, :mod:`~.actions_seated` and :mod:`~.actions_walking`.
"""
from __future__ import annotations

from mmdiff.data.synthetic.actions_seated import eating, phoning, sitting, sitting_down, smoking
from mmdiff.data.synthetic.actions_standing import (directions, discussion, greeting, photo,
                                                    posing, purchases, waiting)
from mmdiff.data.synthetic.actions_walking import walk_dog, walk_together, walking

#: One programme per Human3.6M base action: f(ctx, take) -> Motion, take in {1, 2}.
PROGRAMMES = {
    "Directions": directions, "Discussion": discussion, "Eating": eating, "Greeting": greeting,
    "Phoning": phoning, "Photo": photo, "Posing": posing, "Purchases": purchases,
    "Sitting": sitting, "SittingDown": sitting_down, "Smoking": smoking, "Waiting": waiting,
    "WalkDog": walk_dog, "Walking": walking, "WalkTogether": walk_together,
}
