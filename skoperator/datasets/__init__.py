"""Benchmark data generators of Karumuri et al. (2024): numpy in, numpy out.

Each generator returns ``(U, Y, G)``: input functions at the sensors
(n_functions, n_sensors), output coordinates (n_points, d) and outputs
(n_functions, n_points), all float64.
"""

from ._antiderivative import make_antiderivative
from ._diffusion_reaction import make_diffusion_reaction
from ._heat import make_heat_conduction, solve_heat_conduction

__all__ = [
    "make_antiderivative",
    "make_diffusion_reaction",
    "make_heat_conduction",
    "solve_heat_conduction",
]
