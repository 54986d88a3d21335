"""Operator-learning data sets: generators, their solvers and reference data.

Each ``make_*`` generator samples input functions from a Gaussian random field
and solves a problem for them, returning ``(U, Y, G)``: the inputs at the
sensors, of shape (n_functions, n_sensors); the output coordinates, of shape
(n_points, n_dims); and the outputs at those coordinates, of shape
(n_functions, n_points), all float64. Each ``solve_*`` function is the solver
its generator uses, for inputs of your own. ``load_heat_reference`` loads the
authors' reference fields of the heat-conduction benchmark.

The antiderivative, diffusion-reaction and heat-conduction problems are the
benchmarks of Karumuri, Graham-Brady and Goswami (arXiv:2409.13280); the
Burgers and Darcy problems are those of the Fourier neural operator paper (Li
et al., ICLR 2021), as compared with DeepONet by Lu et al. (CMAME 2022); the
advection problems (square waves whose jumps move with the input) those of de
Hoop et al. (2022) and Lanthaler et al. (ICLR 2023).
"""

from ._advection import make_advection
from ._antiderivative import make_antiderivative, solve_antiderivative
from ._burgers import make_burgers, solve_burgers
from ._darcy import darcy_symmetry, make_darcy, solve_darcy
from ._diffusion_reaction import make_diffusion_reaction, solve_diffusion_reaction
from ._heat import heat_conduction_symmetries, make_heat_conduction, solve_heat_conduction
from ._navier_stokes import make_navier_stokes, navier_stokes_symmetry, solve_navier_stokes
from ._poisson import make_poisson, solve_poisson
from ._reference import load_heat_reference

__all__ = [
    "darcy_symmetry",
    "heat_conduction_symmetries",
    "load_heat_reference",
    "make_advection",
    "make_antiderivative",
    "make_burgers",
    "make_darcy",
    "make_diffusion_reaction",
    "make_heat_conduction",
    "make_navier_stokes",
    "navier_stokes_symmetry",
    "make_poisson",
    "solve_antiderivative",
    "solve_burgers",
    "solve_darcy",
    "solve_diffusion_reaction",
    "solve_heat_conduction",
    "solve_navier_stokes",
    "solve_poisson",
]
