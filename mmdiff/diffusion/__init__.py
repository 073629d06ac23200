"""Diffusion: beta schedules, forward noising q(x_t | x_0) and the DDIM sampler.

Three small modules: :mod:`~mmdiff.diffusion.schedule` (``BetaSchedule``: betas, alpha-bar,
q_sample), :mod:`~mmdiff.diffusion.noise` (per-channel and GMM noise, antithetic timesteps) and
:mod:`~mmdiff.diffusion.ddim` (``DDIMSampler``: the reverse process). Everything is importable
from ``mmdiff.diffusion``.

The diffusion runs over "uvxyz" poses: (B, J, 5) with the normalised 2D joint (u, v) in the first
two channels and the root-relative 3D joint (x, y, z, metres) in the last three.

Variable names -> paper symbols (DDPM: Ho et al. 2020; DDIM: Song et al. 2021)

    ==================  ===========================  ==========================================
    code                symbol                       meaning
    ==================  ===========================  ==========================================
    ``betas[t]``        beta_t                       noise variance added at step t
    ``alphas[t]``       alpha_t = 1 - beta_t
    ``alphas_bar[t]``   alpha-bar_t = prod_{s<=t}    signal kept after t+1 forward steps
                        alpha_s
    ``snr[t]``          alpha-bar_t / (1-alpha-bar)  signal-to-noise ratio
    ``x0``              x_0                          clean uvxyz pose
    ``x_t``             x_t                          noisy pose at timestep t
    ``noise``           epsilon                      forward noise, N(0, diag(scale^2))
    ``eps_hat``         epsilon_theta(x_t, t)        the denoiser's estimate of epsilon
    ``x0_hat``          f_theta(x_t) (DDIM eq. 9)    predicted x_0
    ``x_prev``          x_{t_prev}                   the sample one DDIM step later
    ``eta``             eta (DDIM eq. 16)            0 = deterministic DDIM, 1 = DDPM-like
    ``sigma``           sigma_t (DDIM eq. 16)        std of the fresh noise of a step
    ==================  ===========================  ==========================================

Timesteps are 0-based as in the reference code: t = 0 .. T-1, and ``alphas_bar[t]`` already
includes step t. The DDIM step after the last visited timestep goes to t_prev = -1, where
alpha-bar is 1 (the reference prepends a 1 to alpha-bar), so the final sample is x0_hat.

Noise is not isotropic: the reference scales the Gaussian per channel, 0.1 for u, v and 1 for
x, y, z (:data:`DEFAULT_NOISE_SCALE`); DiffPose instead scales u, v per joint by the spread of a
Gaussian-mixture kernel of the 2D detection (:func:`gmm_noise`). ``q_sample`` takes the noise
already scaled, so both kinds go through the same formula.
"""
from mmdiff.diffusion.ddim import SKIP_TYPES, DDIMSampler, DDIMStepOutput, DDIMTrajectory
from mmdiff.diffusion.noise import (DEFAULT_NOISE_SCALE, antithetic_timesteps, gmm_kernel_choice,
                                    gmm_noise, gmm_noise_scale, pick_kernels, scaled_noise)
from mmdiff.diffusion.schedule import SCHEDULE_KINDS, BetaSchedule

__all__ = ["DEFAULT_NOISE_SCALE", "SCHEDULE_KINDS", "SKIP_TYPES", "BetaSchedule",
           "scaled_noise", "pick_kernels", "gmm_kernel_choice", "gmm_noise_scale", "gmm_noise",
           "antithetic_timesteps", "DDIMStepOutput", "DDIMTrajectory", "DDIMSampler"]
