"""Order of the gallery: first steps first, then the benchmarks.

Named by ``sphinx_gallery_conf["within_subsection_order"]`` in conf.py; an
example not listed here comes after these, in file-name order.
"""

ORDER = [
    "plot_quickstart.py",
    "plot_n_eval_sweep.py",
    "plot_training_curves.py",
    "plot_new_coordinates.py",
    "plot_scattered_points.py",
    "plot_uncertainty.py",
    "plot_pca_pipeline.py",
    "plot_diffusion_reaction.py",
    "plot_heat_conduction.py",
    "plot_two_inputs_two_outputs.py",
    "plot_physics_informed.py",
    "plot_sampling_strategies.py",
    "plot_poisson_n_eval.py",
    "plot_sharpness.py",
    "plot_adaptive_sampling.py",
    "plot_moving_jump.py",
]


class GalleryOrder:
    """Sort key of sphinx-gallery: ``key(filename) -> sortable``."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = str(filename).rsplit("/", 1)[-1]
        return (ORDER.index(name), "") if name in ORDER else (len(ORDER), name)

    def __repr__(self):
        return "GalleryOrder"
