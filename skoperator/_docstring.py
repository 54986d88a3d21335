"""The docstring of DeepONetRegressor (kept apart to keep the class short)."""

DOC = """DeepONet operator regression with randomized trunk sampling.

Learns an operator ``u -> G(u)`` from input functions sampled at sensors
(rows of ``U``, sklearn's ``X``) and output functions sampled at coordinates
(rows of ``G``, sklearn's multi-output ``y``; column ``j`` is the output at
``coords[j]``). A branch network encodes ``u`` into coefficients ``b_k(u)``,
a trunk network encodes a coordinate ``y`` into basis functions ``t_k(y)``,
and ``G(u)(y) = sum_k b_k(u) t_k(y) + b0``.

With ``sampling="random"`` (Karumuri et al., 2024), every optimizer step
evaluates each function of the mini-batch at its own ``n_eval`` points,
drawn without replacement, fresh every step; the cost of a step grows with
``n_eval``, not with the size of the output grid.

Parameters
----------
n_eval : int, float or "auto", default="auto"
    Points per function per step. An int in ``[1, n_points]``; a float in
    (0, 1] is a fraction of the points (rounded up); "auto" is
    ``min(32, n_points)``. With ``sampling="grouped"`` it counts points per
    group. Ignored by ``sampling="full"``.

sampling : {"random", "shared", "full", "grouped"}, default="random"
    How the trunk points of each step are chosen. "random": ``n_eval``
    points per function (the paper's method). "shared": one subset of
    ``n_eval`` points for the whole mini-batch. "full": every point every
    step. "grouped": points are grouped by their first coordinate (for
    instance time), and ``n_eval`` points are drawn in every group, per
    function (the paper's Example 2).

coords : array-like of shape (n_points, d), default=None
    Output coordinates (the trunk inputs), one row per column of ``G``.
    None means a uniform grid on [0, 1] with ``n_points`` points (d = 1).
    A constructor parameter, not a fit parameter, so that cross-validation
    never splits it.

branch : {"mlp", "cnn"}, torch.nn.Module or callable, default="mlp"
    Branch network. "cnn" treats each row of ``U`` as an image of shape
    ``input_shape`` (3x3 convolutions with ``cnn_channels`` filters, each
    followed by the activation and 2x2 average pooling, then an MLP with
    ``branch_layers``). A ``torch.nn.Module`` mapping (batch, n_sensors) to
    (batch, n_basis) is deep-copied and used with its own weights; a
    callable ``factory(n_sensors, n_basis) -> nn.Module`` is called at fit
    with torch's RNG seeded from ``random_state``.

trunk : {"mlp", "resmlp"}, torch.nn.Module or callable, default="mlp"
    Trunk network: an MLP, a residual MLP (skip connections between equal
    hidden widths), a module mapping (n, d) to (n, n_basis), or a factory
    ``factory(d, n_basis) -> nn.Module``.

branch_layers : tuple of int, default=(40, 40, 40)
    Hidden widths of the branch MLP (after the convolutions for "cnn").

trunk_layers : tuple of int, default=(40, 40, 40)
    Hidden widths of the trunk MLP.

n_basis : int, default=40
    Number of basis functions ``p`` (outputs of branch and trunk).

activation : {"relu", "tanh", "gelu", "silu", "elu", "sigmoid"}, default="relu"
    Hidden-layer activation of the built-in networks.

input_shape : tuple of (int, int), default=None
    Grid shape of each input function, for ``branch="cnn"``; its product
    must equal ``n_sensors``. ``U`` stays 2-D.

cnn_channels : tuple of int, default=(40, 60, 100)
    Filters of the convolution layers of the CNN branch.

fourier_features : int, default=0
    Number of random Fourier features ``[cos(2 pi y B), sin(2 pi y B)]``
    added to the trunk inputs; 0 disables the encoding.

fourier_scale : float, default=1.0
    Standard deviation of the Fourier frequencies ``B`` (in standardised
    coordinates).

standardize : bool, default=True
    Standardise inputs (per sensor for "mlp", one scale for "cnn"),
    coordinates (per dimension) and outputs (one mean and scale for all of
    ``G``) inside the network, so raw data train well. Predictions are in
    the units of ``G``.

batch_size : int or "auto", default="auto"
    Functions per mini-batch; "auto" is ``min(64, n_functions)``.

max_iter : int, default=200
    Maximum number of epochs (passes over the training functions).

learning_rate_init : float, default=1e-3
    Adam's (initial) learning rate.

learning_rate : {"constant", "cosine", "onecycle"}, default="constant"
    Learning-rate schedule over the ``max_iter`` epochs of one call to
    ``fit``: constant, cosine annealing to zero, or one-cycle with
    ``learning_rate_init`` as its peak. A schedule runs all ``max_iter``
    epochs unless ``early_stopping`` stops it (``tol`` on the training loss
    applies to the constant rate only). ``partial_fit`` always uses the
    constant rate.

alpha : float, default=0.0
    L2 penalty ``0.5 * alpha * ||w||^2`` (Adam's ``weight_decay``).

early_stopping : bool, default=False
    Hold out ``validation_fraction`` of the functions, score them on all
    their points after every epoch (variance-weighted R2), stop after
    ``n_iter_no_change`` epochs without an improvement of ``tol``, and
    restore the best weights.

validation_fraction : float, default=0.1
    Fraction of functions held out for early stopping.

n_iter_no_change : int, default=10
    Epochs without improvement before training stops.

tol : float or None, default=1e-4
    Minimum improvement of the validation score (with early stopping) or of
    the training loss in standardised units (without, and only with the
    constant learning rate). None disables stopping: exactly ``max_iter``
    epochs are run.

device : str or torch.device, default="auto"
    "auto" uses CUDA when available, else the CPU; or "cpu", "cuda",
    "cuda:1", ... A model fitted on a GPU pickles and predicts on a CPU-only
    machine.

random_state : int, RandomState instance or None, default=None
    Seeds everything (weight initialisation, shuffling, trunk sampling,
    validation split) through local generators; no global seed is touched.
    On the CPU two fits with the same int give identical predictions.

verbose : int, default=0
    0 silent; 1 a progress bar over epochs (tqdm when installed) with the
    loss, validation score and time left; 2 one log line per epoch. Output
    goes through the ``"skoperator"`` logger.

warm_start : bool, default=False
    Reuse the fitted network (and optimizer state) when ``fit`` is called
    again, instead of starting afresh.

Attributes
----------
network_ : torch.nn.Module
    The fitted DeepONet (with its input/output scalings as buffers).

coords_ : ndarray of shape (n_points, d)
    Training coordinates; ``predict`` uses them by default.

n_iter_ : int
    Number of epochs run.

n_eval_ : int
    Points per function per step actually used.

batch_size_ : int
    Mini-batch size actually used.

device_ : torch.device
    Device the model was trained on.

loss_curve_ : list of float
    Training loss (mean squared error in the units of G, over the sampled
    pairs) after each epoch.

best_loss_ : float
    Smallest value of ``loss_curve_``.

validation_scores_ : list of float
    Validation R2 after each epoch (only with ``early_stopping=True``).

best_validation_score_ : float
    Best validation score (only with ``early_stopping=True``).

history_ : list of dict
    One dict per epoch: ``epoch``, ``train_loss``, ``valid_score``,
    ``seconds``, ``trunk_evals`` (number of trunk evaluations) and
    ``learning_rate``.

n_features_in_ : int
    Number of sensors seen during fit.

feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Sensor names, when ``U`` is a DataFrame with string column names.

See Also
--------
sklearn.neural_network.MLPRegressor : Multi-layer perceptron regressor.
skoperator.metrics.mean_function_r2 : The paper's per-function R2.

Notes
-----
``score`` is ``r2_score(G, predict(U), multioutput="variance_weighted")``,
not sklearn's default uniform average, which would count constant columns
(such as the boundary value ``G[:, 0] = 0`` of an antiderivative) as zero.

References
----------
.. [1] L. Lu, P. Jin, G. Pang, Z. Zhang and G. E. Karniadakis, "Learning
   nonlinear operators via DeepONet based on the universal approximation
   theorem of operators", Nature Machine Intelligence 3, 218-229 (2021).
.. [2] S. Karumuri, L. Graham-Brady and S. Goswami, "Efficient Training of
   Deep Neural Operator Networks via Randomized Sampling", arXiv:2409.13280
   (2024).

Examples
--------
>>> from skoperator import DeepONetRegressor
>>> from skoperator.datasets import make_antiderivative
>>> U, Y, G = make_antiderivative(200, n_points=50, random_state=0)
>>> est = DeepONetRegressor(coords=Y, n_eval=10, max_iter=20, tol=None, random_state=0)
>>> est.fit(U[:150], G[:150]).predict(U[150:]).shape
(50, 50)
>>> est.predict(U[150:], coords=[[0.25], [0.75]]).shape
(50, 2)
"""
