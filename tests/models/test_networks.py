"""Every network runs forward and backward on tiny inputs; the neuron factory and its errors."""
import pytest
import torch
from spikingjelly.activation_based import functional as sj_functional

from spikingjelly_mulfree import CPSN
from spikingjelly_mulfree.models import (
    NEURONS, DigitsNet, DVSLipNet, PixelCIFARNet, SequentialCIFARNet, SHDNet, TimeAvgPool,
    build_model, count_neurons, count_parameters, make_surrogate, neuron_factory,
)


def _fwd_bwd(net, x, num_classes):
    net.train()
    x = x.clone().requires_grad_(True)
    out = net(x)
    assert out.shape == (x.shape[1], num_classes)
    assert torch.isfinite(out).all()
    out.sum().backward()
    sj_functional.reset_net(net)
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    assert x.grad is not None and x.grad.abs().sum() > 0
    return out


@pytest.mark.parametrize("neuron", NEURONS)
def test_digits_net_every_neuron(neuron):
    net = DigitsNet(neuron=neuron, channels=4, hidden=16, k=2)
    _fwd_bwd(net, torch.rand(8, 4, 8), 10)
    has_cpsn = any(isinstance(m, CPSN) for m in net.modules())
    assert has_cpsn == (neuron == "cpsn")
    assert net.dilations == ([1, 2, 3, 4] if neuron == "cpsn" else [])


@pytest.mark.parametrize("neuron", ["cpsn", "psn", "lif"])
def test_sequential_cifar_net(neuron):
    net = SequentialCIFARNet(100, neuron=neuron, k=4, channels=8)
    _fwd_bwd(net, torch.rand(32, 2, 3, 32), 100)


def test_sequential_cifar_net_has_the_papers_neuron_count():
    net = SequentialCIFARNet(10)
    assert count_neurons(net, torch.zeros(32, 1, 3, 32)) == 128 * (3 * 32 + 3 * 16) + 256
    assert [m.k for m in net.modules() if isinstance(m, CPSN)] == [16] * 7
    assert net.dilations == [1] * 7


def test_sequential_cifar_sawtooth_dilations():
    net = SequentialCIFARNet(10, k=2, dilations="sawtooth", channels=4)
    assert net.dilations == [1, 2, 3, 4, 5, 6, 7]
    assert [m.dilation for m in net.modules() if isinstance(m, CPSN)] == net.dilations


@pytest.mark.parametrize("neuron", ["cpsn", "sliding_psn", "plif"])
def test_pixel_cifar_net(neuron):
    net = PixelCIFARNet(10, neuron=neuron, k=3, T=64, widths=(8, 16))
    _fwd_bwd(net, torch.rand(64, 2, 3), 10)


def test_pixel_cifar_psn_layers_get_pooled_length():
    net = PixelCIFARNet(10, neuron="psn", T=64, widths=(4, 8))
    sizes = sorted({m.T for m in net.modules() if type(m).__name__ == "PSN"})
    assert sizes == [16, 64]
    _fwd_bwd(net, torch.rand(64, 2, 3), 10)


@pytest.mark.parametrize("neuron", ["cpsn", "psn", "lif"])
def test_shd_net_trains_delays(neuron):
    net = SHDNet(hidden=8, k=2, max_delay=5, T=20, neuron=neuron)
    _fwd_bwd(net, torch.rand(12, 3, 140), 20)
    positions = [m.dcls.P for m in net.delay_layers()]
    assert len(positions) == 3 and all(p.grad is not None for p in positions)


def test_shd_net_delay_groups_schedule_and_clamp():
    net = SHDNet(hidden=8, max_delay=5, T=20)
    groups = net.parameter_groups(lr=1e-3, delay_lr=0.05, weight_decay=1e-5)
    assert [g["lr"] for g in groups] == [1e-3, 0.05]
    assert sum(p.numel() for g in groups for p in g["params"]) == count_parameters(net)
    net.epoch_hook(0, 8)
    sig0 = net.delay_layers()[0].dcls.SIG.abs().max().item()
    net.epoch_hook(2, 8)
    assert net.delay_layers()[0].dcls.SIG.abs().max().item() == pytest.approx(0.0)
    assert sig0 == pytest.approx(2.5 - 0.27)
    with torch.no_grad():
        net.delay_layers()[0].dcls.P.fill_(100.0)
    net.after_optimizer_step()
    assert net.delay_layers()[0].dcls.P.max().item() == 2


def test_shd_delay_is_causal():
    from spikingjelly_mulfree.models import DelayedLinear

    layer = DelayedLinear(3, 2, max_delay=5)
    x = torch.zeros(10, 1, 3)
    x[6] = 1.0
    y = layer(x)
    assert y[:6].abs().max() == 0 and y[6:].abs().max() > 0


@pytest.mark.parametrize("neuron", ["cpsn", "lif"])
def test_dvs_lip_net(neuron):
    net = DVSLipNet(7, neuron=neuron, k=2, T=4, widths=(4, 4, 8, 8, 8))
    _fwd_bwd(net, torch.rand(4, 2, 2, 24, 24), 7)
    if neuron == "cpsn":
        assert len(net.dilations) == 17


def test_build_model_uses_network_defaults():
    net = build_model("scifar10", 10, neuron="cpsn", k=None, channels=8)
    assert isinstance(net, SequentialCIFARNet)
    assert {m.k for m in net.modules() if isinstance(m, CPSN)} == {16}
    with pytest.raises(ValueError, match="dataset: expected one of"):
        build_model("mnist", 10)


def test_neuron_factory_errors_and_fresh_surrogates():
    with pytest.raises(ValueError, match="neuron: expected one of"):
        neuron_factory("izhikevich")
    with pytest.raises(ValueError, match="T: neuron='psn' needs"):
        neuron_factory("psn")
    with pytest.raises(ValueError, match="only apply to neuron='cpsn'"):
        neuron_factory("lif", mul_free=False)
    with pytest.raises(ValueError, match="surrogate: expected one of"):
        make_surrogate("relu")
    make = neuron_factory("cpsn", k=2)
    a, b = make(4), make(4)
    assert a.surrogate_function is not b.surrogate_function


def test_bad_dilations_and_inputs_are_named():
    with pytest.raises(ValueError, match=r"dilations: expected 'sawtooth', 'none' \(or None\)"):
        DigitsNet(dilations="log")
    with pytest.raises(ValueError, match="dilations: expected 4 values"):
        DigitsNet(dilations=[1, 2, 3])
    with pytest.raises(ValueError, match=r"x: expected \[T, N, 3, 32\]"):
        SequentialCIFARNet(10, channels=4)(torch.rand(32, 3, 32))
    with pytest.raises(ValueError, match="dilation: expected an integer >= 1, got 1.7"):
        DigitsNet(dilations=[1.7, 2, 1, 1])  # was truncated to 1
    with pytest.raises(ValueError, match="widths: expected 5 channel counts"):
        DVSLipNet(10, k=2, T=4, widths=(8, 8, 8))  # built two stages
    with pytest.raises(ValueError, match=r"dropout: expected a probability in \[0, 1\)"):
        DVSLipNet(10, k=2, T=4, widths=(4, 4, 8, 8, 8), dropout=1.5)
    with pytest.raises(ValueError, match="num_classes: expected an integer >= 1"):
        build_model("digits", 0)


def test_build_model_keeps_none_dilations():
    # build_model drops None options, so None means the network's default (sawtooth here) and
    # "none" is how to ask it for dilation 1 everywhere
    assert build_model("digits", 10, k=2, dilations="none").dilations == [1, 1, 1, 1]
    assert build_model("digits", 10, k=2, dilations=None).dilations == DigitsNet(k=2).dilations
    assert DigitsNet(k=2).dilations != [1, 1, 1, 1]
    assert DigitsNet(k=2, dilations=None).dilations == [1, 1, 1, 1]


def test_digits_net_reads_pixels_mode():
    net = DigitsNet(in_features=1, T=64, channels=4, hidden=8, k=2)
    _fwd_bwd(net, torch.rand(64, 2, 1), 10)


def test_parameter_count_cli_prints_every_network(capsys):
    from spikingjelly_mulfree.models.__main__ import main

    main(["--neuron", "cpsn", "lif"])
    out = capsys.readouterr().out
    for name in ("DigitsNet", "SequentialCIFARNet", "PixelCIFARNet", "SHDNet", "DVSLipNet"):
        assert name in out
    assert "531,850" in out and "11,249,764" in out


@pytest.mark.parametrize("net, x, hint", [
    (lambda: SequentialCIFARNet(10, k=2, channels=4), torch.rand(32, 2, 3, 28),
     r"x: expected \[T, N, 3, 32\] \(columns as time\), got \(32, 2, 3, 28\).*length="),
    (lambda: SequentialCIFARNet(10, neuron="psn", channels=4), torch.rand(16, 2, 3, 32),
     r"x: expected \[32, N, 3, 32\].*got \(16, 2, 3, 32\).*and T="),
    (lambda: DigitsNet(channels=4, hidden=8), torch.rand(8, 2, 7),
     r"x: expected \[T, N, 8\], got \(8, 2, 7\).*in_features="),
    (lambda: PixelCIFARNet(10, k=2, T=64, widths=(4, 8)), torch.rand(64, 2, 1),
     r"x: expected \[T, N, 3\] \(pixels as time\), got \(64, 2, 1\).*in_channels="),
    (lambda: DVSLipNet(10, k=2, T=4, widths=(4, 4, 8, 8, 8)), torch.rand(4, 1, 1, 24, 24),
     r"x: expected frames \[T, N, 2, H, W\], got \(4, 1, 1, 24, 24\).*in_channels="),
    (lambda: SHDNet(hidden=4, k=2, max_delay=3), torch.rand(4, 1, 139),
     r"x: expected \[T, N, 140\], got \(4, 1, 139\).*in_features="),
])
def test_inputs_the_network_was_not_built_for_are_named(net, x, hint):
    # these failed deep inside torch ("mat1 and mat2 shapes cannot be multiplied")
    with pytest.raises(ValueError, match=hint):
        net()(x)


def test_bad_sizes_are_named_at_construction():
    with pytest.raises(ValueError, match=r"widths: expected 2 channel counts >= 1.*got \(8,\)"):
        PixelCIFARNet(10, k=2, T=64, widths=(8,))
    with pytest.raises(ValueError, match=r"dropout: expected a probability in \[0, 1\), got 2"):
        DigitsNet(dropout=2)  # was a bare AssertionError from SpikingJelly
    with pytest.raises(ValueError, match=r"dropout: expected a probability"):
        SHDNet(hidden=4, k=2, max_delay=3, dropout=-0.1)
    with pytest.raises(ValueError, match=r"stride: expected an integer >= 1.*got 0"):
        TimeAvgPool(0)


@pytest.mark.parametrize("name, alpha", [
    ("atan", "x"), ("sigmoid", "x"), ("rational", "x"), ("atan", 0.0), ("sigmoid", -1.0),
    ("atan", float("inf")), ("sigmoid", float("nan")), ("atan", True),
])
def test_surrogate_sharpness_that_cannot_train_is_named(name, alpha):
    # ATan / Sigmoid took these: "x" failed at the first forward or backward, 0 gave zero
    # gradients, -1 flipped their sign, inf / nan made them NaN
    hint = (rf"alpha: expected a finite number > 0 \(the sharpness of the '{name}' "
            rf"surrogate gradient\), got .*; pass a positive number, or None for its default")
    with pytest.raises(ValueError, match=hint):
        make_surrogate(name, alpha=alpha)
    with pytest.raises(ValueError, match=hint):
        neuron_factory("lif", surrogate=name, alpha=alpha)


def test_surrogate_sharpness_accepted_as_before():
    for alpha in (None, 1, 2.5, torch.tensor(3.0)):
        x = torch.tensor([-1.0, 0.0, 0.5], requires_grad=True)
        make_surrogate("atan", alpha)(x).sum().backward()
        assert torch.isfinite(x.grad).all() and (x.grad > 0).all()


@pytest.mark.parametrize("net", [
    lambda n: DigitsNet(n, channels=4, hidden=8, k=2),
    lambda n: SequentialCIFARNet(n, channels=4, k=2),
    lambda n: PixelCIFARNet(n, k=2, T=64, widths=(4, 8)),
    lambda n: SHDNet(n, hidden=4, k=2, max_delay=3),
    lambda n: DVSLipNet(n, k=2, T=4, widths=(4, 4, 8, 8, 8)),
])
@pytest.mark.parametrize("num_classes", [0, -3, 2.0, True])
def test_every_network_checks_num_classes_like_build_model(net, num_classes):
    # the networks built a readout of width 0 (logits [N, 0]) for num_classes=0
    hint = (r"num_classes: expected an integer >= 1 \(the readout's width\), got "
            rf"{num_classes!r}; pass the number of classes of the data set")
    with pytest.raises(ValueError, match=hint):
        net(num_classes)
    with pytest.raises(ValueError, match=hint):
        build_model("digits", num_classes)


@pytest.mark.parametrize("neuron, hint", [("lif", "neuron='lif' takes no further options"),
                                          ("cpsn", "CPSN's own options")])
def test_build_model_names_a_misspelt_option_as_the_network_s(neuron, hint):
    """A typo was blamed on CPSN ('cpsn_options ... only apply to neuron=cpsn')."""
    with pytest.raises(ValueError, match=rf"DigitsNet has no option \['chanels'\]; expected "
                                         rf"one of \['in_features', 'channels'.*{hint}"):
        build_model("digits", 10, neuron=neuron, chanels=32)
    assert build_model("digits", 10, threshold=0.5, channels=4).__class__.__name__ == "DigitsNet"


def test_build_model_passes_the_neuron_factory_s_options_and_names_those_it_sets():
    assert build_model("digits", 10, neuron="lif", backend="torch", channels=4) is not None
    with pytest.raises(ValueError, match=r"\['step_mode'\]: set by DigitsNet for each of its "
                                         r"neurons"):
        build_model("digits", 10, step_mode="s")
