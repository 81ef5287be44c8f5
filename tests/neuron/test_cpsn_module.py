"""CPSN as a SpikingJelly module: step modes, state, laziness, registration, models, errors."""
import io
import re

import numpy as np
import pytest
import torch
from spikingjelly.activation_based import functional, layer, neuron, surrogate

import spikingjelly_mulfree
from spikingjelly_mulfree import CPSN, Rational


@pytest.mark.parametrize("threshold", ["bn", "learnable", 0.4])
@pytest.mark.parametrize("k,d", [(1, 1), (3, 2), (4, 1)])
def test_single_step_equals_multi_step_in_eval(threshold, k, d):
    sn = CPSN(3, k=k, dilation=d, threshold=threshold, init="uniform").double()
    sn(torch.randn(10, 2, 3, 4, dtype=torch.float64))
    sn.eval()
    x = torch.randn(10, 2, 3, 4, dtype=torch.float64)
    multi = sn(x)
    functional.set_step_mode(sn, "s")
    for _ in range(2):
        steps = torch.stack([sn(x[t]) for t in range(x.shape[0])])
        assert torch.equal(steps, multi)
        assert sn.x_window.shape[0] == (k - 1) * d + 1
        functional.reset_net(sn)
        assert sn.x_window is None


def test_without_reset_state_carries_over():
    sn = CPSN(2, k=3, threshold=1.2).eval()
    functional.set_step_mode(sn, "s")
    x = torch.ones(2, 2)
    first = [sn(x) for _ in range(3)]
    assert not torch.equal(first[0], first[2])
    with pytest.raises(ValueError, match="reset_net"):
        sn(torch.ones(3, 2))


def test_single_step_training_with_learnable_threshold_matches_multi_step_gradients():
    torch.manual_seed(1)
    a = CPSN(3, k=3, dilation=2, threshold="learnable", init="uniform").double()
    b = CPSN(3, k=3, dilation=2, threshold="learnable", step_mode="s").double()
    b.load_state_dict(a.state_dict())
    x = torch.randn(8, 2, 3, dtype=torch.float64)
    a(x).sum().backward()
    torch.stack([b(x[t]) for t in range(8)]).sum().backward()
    torch.testing.assert_close(a.weight.grad, b.weight.grad)
    torch.testing.assert_close(a.v_threshold.grad, b.v_threshold.grad)


def test_single_step_training_with_bn_threshold_explains_itself():
    sn = CPSN(3, step_mode="s")
    with pytest.raises(RuntimeError, match="step_mode='m'"):
        sn(torch.randn(2, 3))


def test_detach_net_keeps_state_but_cuts_graph():
    sn = CPSN(2, k=3, threshold="learnable", step_mode="s")
    x = torch.randn(4, 2, requires_grad=True)
    sn(x)
    assert sn.x_window.requires_grad
    functional.detach_net(sn)
    assert not sn.x_window.requires_grad and sn.x_window.shape[0] == 3


def test_lazy_channels_and_optimizer_after_dry_run():
    sn = CPSN(k=2)
    assert sn.has_uninitialized_params()
    with pytest.raises(RuntimeError, match="dry run"):
        sn.effective_kernel()
    sn(torch.randn(4, 2, 6, 3, 3))
    assert sn.channels == 6 and sn.weight.shape == (6, 2) and sn.running_var.shape == (6,)
    opt = torch.optim.SGD(sn.parameters(), lr=0.1)
    sn(torch.randn(4, 2, 6, 3, 3)).sum().backward()
    opt.step()
    lazy_s = CPSN(step_mode="s", threshold="learnable")
    lazy_s(torch.randn(2, 5))
    assert lazy_s.v_threshold.shape == (5,)


def test_state_dict_round_trip_including_into_lazy_module():
    sn = CPSN(4, k=3, init="uniform")
    for _ in range(2):
        sn(torch.randn(6, 2, 4))
    buf = io.BytesIO()
    torch.save(sn.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf)
    for fresh in (CPSN(4, k=3), CPSN(k=3)):
        fresh.load_state_dict(state)
        sn.eval(), fresh.eval()
        x = torch.randn(6, 2, 4)
        assert torch.equal(fresh(x), sn(x))
        assert torch.equal(fresh.running_mean, sn.running_mean)


@pytest.mark.parametrize("threshold", ["bn", "learnable", 0.5])
def test_loading_into_a_lazy_module_sets_channels(threshold):
    """No dry run needed after a load: the kernel, the export and the channel check work (a
    fixed threshold crashed on channels=None, and a wrong channel count reached bmm)."""
    state = CPSN(5, k=3, threshold=threshold, init="uniform").state_dict()
    lazy = CPSN(k=3, threshold=threshold)
    lazy.load_state_dict(state)
    assert lazy.channels == 5
    assert lazy.effective_kernel()[1].shape == (5,)
    with pytest.raises(ValueError, match="expected 5 channels"):
        lazy(torch.randn(6, 2, 7))
    with pytest.raises(ValueError, match="3 taps per channel.*k=4"):
        CPSN(k=4, threshold=threshold).load_state_dict(state)


@pytest.mark.parametrize("weight", [torch.ones(5, 3), torch.ones(4)], ids=["taps", "rank"])
def test_a_refused_load_leaves_the_lazy_module_lazy(weight):
    """A weight the neuron cannot take is refused before anything is materialised: the module
    stays lazy and still learns its channels from a dry run (a wrong number of taps left a
    [5, 3] weight in a k=2 neuron with channels=None; a 1-D weight, like SlidingPSN's, failed
    with a tuple-unpacking error)."""
    lazy = CPSN(k=2, threshold=0.5)
    with pytest.raises(ValueError, match=r"weight.*\[C, k=2\]|taps per channel"):
        lazy.load_state_dict({"weight": weight})
    assert lazy.has_uninitialized_params() and lazy.channels is None
    assert lazy(torch.randn(3, 2, 6)).shape == (3, 2, 6)
    assert lazy.weight.shape == (6, 2)


def test_a_partial_load_into_a_lazy_module_keeps_what_it_loaded():
    """load_state_dict(strict=False) of the taps alone: the first forward initialises the rest
    and keeps the loaded taps (it crashed: 'Parameter' object has no attribute 'materialize')."""
    src = CPSN(4, k=3, init="uniform")
    lazy = CPSN(k=3)
    lazy.load_state_dict({"weight": src.weight.detach()}, strict=False)
    assert lazy(torch.randn(5, 2, 4)).shape == (5, 2, 4)
    assert torch.equal(lazy.weight, src.weight) and lazy.bn_bias.tolist() == [-1.0] * 4
    assert not lazy.has_uninitialized_params() and not lazy._forward_pre_hooks
    other = CPSN(k=3)
    other.load_state_dict({"weight": src.weight.detach()}, strict=False)
    with pytest.raises(ValueError, match="expected 4 channels"):
        other(torch.randn(5, 2, 6))


@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_a_lazy_module_refuses_threshold_tensors_of_other_channels(backend):
    """A partial load of a 3-channel neuron's threshold tensors into a lazy one whose first
    input has 5 channels kept the [3] tensors: 'cpu' read and wrote past their ends (channels
    3 and 4 fired from whatever memory followed), 'torch' failed in a broadcast."""
    source = {k: v for k, v in CPSN(3, k=3).state_dict().items() if k != "weight"}
    lazy = CPSN(k=3, backend=backend)
    lazy.load_state_dict(source, strict=False)
    with pytest.raises(ValueError, match=r"bn_weight: .* \(3,\), but the first input has 5"):
        lazy(torch.randn(4, 2, 5))
    assert lazy.has_uninitialized_params()
    mixed = dict(CPSN(3, k=3).state_dict(), bn_weight=torch.ones(5))
    with pytest.raises(ValueError, match=r"bn_weight \[3\] like weight, got shape \(5,\)"):
        CPSN(k=3).load_state_dict(mixed)


@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_a_dry_run_under_inference_mode_leaves_a_trainable_neuron(backend):
    """Materialised under inference_mode, a BatchNorm threshold's tensors were inference
    tensors: every later forward with autograd failed ('Inference tensors cannot be saved for
    backward')."""
    lazy = CPSN(k=3, backend=backend)
    with torch.inference_mode():
        lazy(torch.randn(4, 2, 5))
    assert not any(t.is_inference() for t in (*lazy.parameters(), *lazy.buffers()))
    lazy(torch.randn(4, 2, 5, requires_grad=True)).sum().backward()
    assert lazy.weight.grad is not None and lazy.bn_weight.grad is not None


def test_lazy_hooks_go_once_nothing_is_left_to_infer():
    """torch.cuda.make_graphed_callables refuses a module with hooks: LazyModuleMixin's go at
    construction with the channels, after a dry run and after a load into a lazy neuron (they
    stayed on a neuron built with its channels, which no forward ever removed)."""
    built, dry, loaded = CPSN(4, k=3, init="uniform"), CPSN(k=3), CPSN(k=3)
    assert dry._forward_pre_hooks and dry._load_state_dict_pre_hooks
    dry(torch.randn(2, 1, 4))
    loaded.load_state_dict(built.state_dict())
    for sn in (built, dry, loaded):
        assert not sn._forward_pre_hooks and not sn._load_state_dict_pre_hooks
    loaded.load_state_dict(dry.state_dict())  # an initialised neuron loads as any module
    assert torch.equal(loaded.weight, dry.weight)
    assert loaded(torch.randn(2, 1, 4)).shape == (2, 1, 4)


def test_data_parallel_replicates_an_initialised_neuron():
    """nn.DataParallel's replica of a neuron with its channels carries its own copy of the step
    state (SpikingJelly's); LazyModuleMixin refused every replica, initialised or not."""
    sn = CPSN(4, k=3)
    replica = sn._replicate_for_data_parallel()
    assert isinstance(replica, CPSN) and replica.channels == 4
    assert replica._memories == sn._memories and replica._memories is not sn._memories
    with pytest.raises(RuntimeError, match="dummy forward pass"):
        CPSN(k=3)._replicate_for_data_parallel()


@pytest.mark.parametrize("threshold", ["bn", "learnable"])
def test_a_data_parallel_replica_trains_in_step_mode(threshold):
    """A replica holds the parameters as plain tensors computed from the original's (as
    torch.nn.parallel.replicate sets them; done by hand here, without GPUs): a step must still
    see them as trained, not step in place without a gradient (it looked at parameters(),
    which a replica has none of)."""
    sn = CPSN(3, k=2, threshold=threshold, step_mode="s", init="uniform")
    if threshold == "bn":
        sn.eval()  # a BN threshold trains in step_mode='m' only; its parameters still learn
    replica = sn._replicate_for_data_parallel()
    for name, p in sn.named_parameters():
        setattr(replica, name, p * 1)
    assert not list(replica.parameters())
    out = replica(torch.randn(2, 3))
    assert out.requires_grad
    out.sum().backward()
    assert sn.weight.grad is not None


def test_registered_in_spikingjelly_namespace():
    assert neuron.CPSN is CPSN
    assert spikingjelly_mulfree.CPSN is CPSN


def test_each_instance_gets_its_own_surrogate():
    a, b = CPSN(2), CPSN(2)
    assert isinstance(a.surrogate_function, surrogate.ATan)
    assert a.surrogate_function is not b.surrogate_function


def test_extra_repr_lists_the_configuration():
    text = repr(CPSN(8, k=3, dilation=2, mul_free=False, threshold=0.5, step_mode="s"))
    for part in ["channels=8", "k=3", "dilation=2", "mul_free=False", "threshold=0.5",
                 "step_mode=s", "backend='auto'"]:
        assert part in text
    assert "momentum" not in text and "eps" not in text  # defaults are left out
    text = repr(CPSN(8, init="uniform", exp_range=(-8, 0), momentum=0.2, eps=1e-3))
    for part in ["init='uniform'", "exp_range=(-8, 0)", "momentum=0.2", "eps=0.001"]:
        assert part in text


@pytest.mark.parametrize("name", ["mul_free", "detach_reset"])
@pytest.mark.parametrize("value", ["False", 0, None])
def test_flags_must_be_booleans(name, value):
    # bool("False") is True: a string flag used to switch the quantizer on silently
    with pytest.raises(ValueError, match=f"{name}: expected True or False"):
        CPSN(4, **{name: value})


@pytest.mark.parametrize("option,hint", [("v_threshold", "use threshold="),
                                         ("tau", "no fixed leak"), ("v_reset", "no membrane"),
                                         ("bogus", "not an argument of CPSN")])
def test_spikingjelly_node_options_are_refused_with_what_cpsn_has(option, hint):
    # a script that swaps LIFNode for CPSN passes LIF's options on through a model factory
    with pytest.raises(TypeError, match=f"unexpected keyword argument.*'{option}'.*{hint}"):
        CPSN(4, **{option: 1.0})


def test_a_reference_model_passes_lif_options_to_a_clear_error():
    from spikingjelly.activation_based.model import spiking_resnet

    with pytest.raises(TypeError, match="v_threshold: use threshold="):
        spiking_resnet.spiking_resnet18(spiking_neuron=CPSN, k=2, v_threshold=0.5)


def test_numpy_flags_are_accepted():
    assert CPSN(4, mul_free=np.bool_(False)).mul_free is False


def test_rational_surrogate_trains_through_cpsn():
    sn = CPSN(3, surrogate_function=Rational(alpha=10.0))
    x = torch.randn(5, 2, 3, requires_grad=True)
    sn(x).sum().backward()
    assert x.grad.abs().sum() > 0


def test_in_a_spikingjelly_sequential_network():
    net = torch.nn.Sequential(
        layer.Linear(6, 8), CPSN(k=2), layer.Linear(8, 8), CPSN(k=2, dilation=2),
        layer.Linear(8, 3),
    )
    functional.set_step_mode(net, "m")
    x = torch.randn(7, 4, 6)
    net(x)
    out = net(x).mean(0)
    out.sum().backward()
    assert out.shape == (4, 3)
    functional.reset_net(net)


@pytest.mark.parametrize("factory", ["spiking_resnet18", "sew_resnet18", "spiking_vgg11_bn"])
def test_spikingjelly_reference_models_take_cpsn(factory):
    from spikingjelly.activation_based.model import sew_resnet, spiking_resnet, spiking_vgg

    module = {"spiking_resnet18": spiking_resnet, "sew_resnet18": sew_resnet,
              "spiking_vgg11_bn": spiking_vgg}[factory]
    kwargs = {"cnf": "ADD"} if factory == "sew_resnet18" else {}
    net = getattr(module, factory)(
        spiking_neuron=CPSN, k=2, surrogate_function=surrogate.ATan(), detach_reset=True,
        num_classes=10, **kwargs,
    )
    functional.set_step_mode(net, "m")
    x = torch.randn(2, 1, 3, 32, 32)
    with torch.no_grad():
        net(x)
    functional.reset_net(net)
    out = net(x)
    out.sum().backward()
    assert out.shape[-1] == 10
    cpsn = [m for m in net.modules() if isinstance(m, CPSN)]
    assert cpsn and all(m.weight.grad is not None for m in cpsn)
    assert len({id(m.surrogate_function) for m in cpsn}) == len(cpsn)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"k": 0}, "k: expected an integer >= 1"),
        ({"k": 2.5}, "k: expected an integer >= 1"),
        ({"dilation": 0}, "dilation: expected an integer >= 1"),
        ({"threshold": "adaptive"}, "threshold: expected 'bn', 'learnable' or a finite float"),
        ({"threshold": True}, "threshold: expected"),
        ({"backend": "triton"}, "backend: expected one of"),
        ({"init": "zeros"}, "init: expected one of"),
        ({"step_mode": "x"}, "step_mode can only be"),
        ({"exp_range": (3, -3)}, "min_exp <= max_exp"),
        ({"exp_range": (-3,)}, "a pair of integers"),
        ({"exp_range": (-24, 200)}, "max_exp <= 127"),
        ({"threshold": float("nan")}, "a finite float"),
        ({"threshold": float("inf")}, "a finite float"),
        ({"momentum": 5.0}, r"momentum: expected a float in \[0, 1\]"),
        ({"momentum": None}, "cumulative average, is not supported"),
        ({"eps": -1.0}, "eps: expected a finite float > 0"),
        ({"eps": 0.0}, "eps: expected a finite float > 0"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CPSN(4, **kwargs)


def test_k_is_fixed_at_construction():
    sn = CPSN(4, k=2)
    with pytest.raises(AttributeError, match=r"k: fixed at construction.*CPSN\(k=5\)"):
        sn.k = 5
    assert sn.k == 2 and sn.receptive_field == 2


@pytest.mark.parametrize("backend", ["torch", "cpu"])
@pytest.mark.parametrize("step_mode", ["m", "s"])
@pytest.mark.parametrize("threshold,name,shape", [
    ("bn", "weight", (4, 5)), ("bn", "weight", (3, 2)), ("bn", "bn_weight", (3,)),
    ("bn", "running_var", (4, 1)), ("learnable", "v_threshold", (2, 4)),
])
def test_a_tensor_reassigned_with_another_shape_is_named(backend, step_mode, threshold, name,
                                                         shape):
    """A hand-assigned weight of other ``k`` ran with a receptive field the neuron did not
    report, a ``[2, 4]`` threshold on ``'cpu'`` ran unnoticed, and ``'torch'`` raised
    broadcasting errors that named no argument."""
    sn = CPSN(4, k=2, threshold=threshold, backend=backend, step_mode=step_mode).eval()
    value = torch.ones(shape)
    setattr(sn, name, value if name.startswith("running") else torch.nn.Parameter(value))
    want = (4, 2) if name == "weight" else (4,)
    match = re.escape(f"{name}: expected shape {want} for this CPSN of 4 channels and k=2 "
                      f"taps, got {shape}; ") + ".*assign a tensor of shape"
    with pytest.raises(ValueError, match=match):
        sn(torch.randn((6, 2, 4) if step_mode == "m" else (2, 4)))
    with pytest.raises(ValueError, match=f"{name}: expected shape"):
        sn.effective_kernel()


def test_taps_resized_through_data_are_named():
    sn = CPSN(4, k=2, backend="torch").eval()
    sn.weight.data = torch.ones(4, 3)
    with pytest.raises(ValueError, match=re.escape("weight: expected shape (4, 2)")):
        sn(torch.randn(6, 2, 4))


@pytest.mark.parametrize("grad", [False, True])  # the in-place ring and the rebuilt window
def test_dilation_change_within_a_sequence_is_refused(grad):
    sn = CPSN(3, k=2, threshold="learnable", step_mode="s").eval()
    x = torch.randn(2, 3, requires_grad=grad)
    sn(x)
    sn.dilation = 3
    with pytest.raises(ValueError, match="receptive field changed to 4.*reset_net"):
        sn(x)
    functional.reset_net(sn)
    assert sn(x).shape == x.shape


def test_bad_channels():
    with pytest.raises(ValueError, match="channels: expected an integer >= 1"):
        CPSN(channels=-1)


@pytest.mark.parametrize(
    "x,step_mode,err,match",
    [
        (torch.randn(5, 2), "m", ValueError, r"\[T, N, C, \*\]"),
        (torch.randn(5, 2, 4, 1, 1, 1, 1), "m", ValueError, "0 to 3 trailing dims"),
        (torch.randn(5, 2, 3), "m", ValueError, "expected 4 channels"),
        (torch.randint(0, 2, (5, 2, 4)), "m", TypeError, "floating-point"),
        (torch.ones(5, 2, 4, dtype=torch.bool), "m", TypeError, "floating-point"),
        (torch.randn(2), "s", ValueError, r"\[N, C, \*\]"),
        (torch.randn(2, 3), "s", ValueError, "expected 4 channels"),
    ],
)
def test_bad_inputs(x, step_mode, err, match):
    sn = CPSN(4, step_mode=step_mode, threshold="learnable")
    with pytest.raises(err, match=match):
        sn(x)


@pytest.mark.parametrize("value, match", [
    (surrogate.ATan, r"expected a surrogate instance, got the class ATan; pass ATan\(\)"),
    ("atan", r"expected a surrogate such as .*surrogate.ATan\(\).*got 'atan' \(str\)"),
])
def test_a_surrogate_that_cannot_be_called_on_the_charge_is_refused_at_construction(value,
                                                                                     match):
    """A class or a name got through to the first forward ('ATan' object has no attribute
    'view', or 'str' object is not callable)."""
    with pytest.raises(TypeError, match=f"surrogate_function: {match}"):
        CPSN(4, surrogate_function=value)


@pytest.mark.parametrize("channels", [4, None])
def test_an_input_that_is_no_tensor_is_named_as_such(channels):
    """A lazy neuron said the numpy array's shape had no channel dimension."""
    with pytest.raises(TypeError, match=r"x: expected a torch.Tensor \[T, N, C, \*\], got "
                                        r"ndarray"):
        CPSN(channels)(np.zeros((8, 2, 4), dtype=np.float32))


@pytest.mark.parametrize("step_mode,shape", [("m", (4, 2, 0)), ("s", (2, 0, 5))])
def test_a_lazy_neuron_refuses_a_first_input_without_channels(step_mode, shape):
    sn = CPSN(k=2, step_mode=step_mode)
    with pytest.raises(ValueError, match="x: a lazy CPSN takes its channel count .* 0 channels"):
        sn(torch.randn(shape))
    assert sn.has_uninitialized_params()


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 1, 3, 1)])
def test_a_bn_threshold_in_training_needs_two_values_per_channel(shape):
    """As torch's BatchNorm: one value has no spread, and the spikes were rounding's choice."""
    sn = CPSN(3, k=2)
    with pytest.raises(ValueError, match=r"more than one value per channel.*\.eval\(\)"):
        sn(torch.randn(shape))
    assert sn.eval()(torch.randn(shape)).shape == shape
    assert CPSN(3, k=2)(torch.randn(2, 1, 3)).shape == (2, 1, 3)


@pytest.mark.parametrize("step_mode", ["m", "s"])
def test_an_input_on_another_device_than_the_parameters_is_named(step_mode):
    sn = CPSN(3, k=2, step_mode=step_mode).eval()
    with pytest.raises(RuntimeError, match=r"x: on meta, but the neuron's parameters are on "
                                           r"cpu; move the model .*net.to\('meta'\)"):
        sn(torch.randn(4, 3, device="meta") if step_mode == "s" else
           torch.randn(2, 4, 3, device="meta"))


@pytest.mark.parametrize("threshold", ["bn", "learnable", 0.5])
def test_a_model_on_the_meta_device_gives_shapes_forward_and_backward(threshold):
    """Shape inference (a model built on 'meta') runs the torch path without data."""
    sn = CPSN(3, k=2, backend="torch", threshold=threshold).to("meta")
    x = torch.randn(5, 2, 3, 4, device="meta", requires_grad=True)
    spikes = sn(x)
    spikes.sum().backward()
    assert spikes.shape == x.shape and spikes.is_meta and x.grad.shape == x.shape


def test_set_dilation_validates():
    sn = CPSN(2)
    sn.dilation = 3
    assert sn.receptive_field == 10
    with pytest.raises(ValueError, match="dilation"):
        sn.dilation = 0


def test_default_backend_autoselects_and_reports(monkeypatch):
    from spikingjelly_mulfree.backends import autoselect_report, clear_autoselect_cache

    monkeypatch.delenv("SPIKINGJELLY_MULFREE_BACKEND")
    clear_autoselect_cache()
    sn = CPSN(5, k=3)
    assert sn.backend == "auto"
    x = torch.randn(6, 2, 5, 3, requires_grad=True)
    sn(x).sum().backward()
    choices = autoselect_report().choices
    assert len(choices) == 1 and choices[0].chosen in ("torch", "cpu")
    ref = CPSN(5, k=3, backend="torch")
    ref.load_state_dict(sn.state_dict())
    sn.eval(), ref.eval()
    assert (sn(x) != ref(x)).float().mean() < 0.01
