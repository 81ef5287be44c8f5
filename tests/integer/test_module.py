"""IntegerCPSN as a module: loading a state dict, empty inputs, devices, the spike dtype."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from _integer_cases import float64_spikes, full_range_input

from spikingjelly_mulfree.integer import IntegerCPSN, make_plan

BIAS = torch.tensor([-0.5])
NARROW = torch.tensor([[1.0, 1.0]])
WIDE = torch.tensor([[2.0**-20, 2.0**10]])


def _module(weight, accumulator="auto", **kwargs):
    return IntegerCPSN(make_plan(weight, BIAS, 4, torch.int16, accumulator), 1, 4, torch.int16,
                       **kwargs)


def test_loading_a_state_dict_that_needs_a_wider_accumulator_is_refused():
    narrow, wide = _module(NARROW), _module(WIDE)
    assert narrow.accumulator == torch.int32 and wide.accumulator == torch.int64
    with pytest.raises(OverflowError, match=r"shift.*accumulator=torch.int64"):
        narrow.load_state_dict(wide.state_dict())
    assert narrow.shift.tolist() == [[0, 0]]  # nothing was copied


def test_a_loaded_threshold_out_of_the_accumulator_s_range_is_named():
    """The message blamed the shift, whose bound fits."""
    module = _module(NARROW)
    state = module.state_dict()
    state["threshold"] = torch.tensor([2**40])
    with pytest.raises(OverflowError, match=r"the loaded threshold reaches 1099511627776, more "
                                            r"than this module's torch.int32 accumulator holds"):
        module.load_state_dict(state)


@pytest.mark.parametrize("backend", ["torch", "kernel"])
def test_a_loaded_state_dict_gives_the_exact_spikes_and_its_bound(backend):
    wide = _module(WIDE)
    target = _module(NARROW, accumulator=torch.int64, backend=backend)
    target.load_state_dict(wide.state_dict())
    assert target.bound == wide.bound
    q = full_range_input((7, 3, 1), torch.int16, torch.Generator().manual_seed(0))
    ref, _ = float64_spikes(q, WIDE, BIAS, 4, 1)
    assert torch.equal(target(q).bool(), ref)


def test_loading_shifts_or_signs_out_of_range_is_refused():
    module = _module(NARROW)
    state = module.state_dict()
    with pytest.raises(ValueError, match=r"sign: expected values in \{-1, 0, 1\}"):
        module.load_state_dict({**state, "sign": torch.tensor([[2, 1]], dtype=torch.int8)})
    with pytest.raises(ValueError, match="shift: expected left shifts >= 0"):
        module.load_state_dict({**state, "shift": torch.tensor([[-1, 0]], dtype=torch.int32)})


def test_a_narrower_saved_threshold_loads_into_a_wider_accumulator():
    """An int32 threshold was compared with int64's maximum converted to int32 (which wraps):
    every value 'exceeded' it, and the load was refused with an OverflowError."""
    target = _module(NARROW, accumulator=torch.int64)
    source = _module(NARROW)
    target.load_state_dict(source.state_dict())
    assert target.threshold.dtype == torch.int64
    assert target.threshold.tolist() == source.threshold.tolist()


def test_a_threshold_loaded_alone_is_checked_against_the_module_s_shifts():
    """strict=False with the threshold alone skipped the check: 2**32 + 5 wrapped to 5."""
    module = _module(NARROW)
    with pytest.raises(OverflowError, match=r"loaded threshold reaches 4294967301"):
        module.load_state_dict({"threshold": torch.tensor([2**32 + 5])}, strict=False)
    assert module.threshold.tolist() == _module(NARROW).threshold.tolist()


@pytest.mark.parametrize("name", ["sign", "shift", "threshold", "min_exp"])
def test_a_float_plan_tensor_in_a_state_dict_is_refused(name):
    """Float signs of 0.5 loaded as 0 (every tap dropped), float shifts were truncated."""
    module = _module(NARROW)
    state = module.state_dict()
    state[name] = state[name].float() + 0.5
    with pytest.raises(TypeError, match=rf"{name} as an integer tensor.*got torch.float32"):
        module.load_state_dict(state)


@pytest.mark.parametrize("backend", ["torch", "kernel"])
@pytest.mark.parametrize("step_mode,shape", [("m", (4, 0, 1)), ("m", (0, 2, 1)),
                                             ("s", (0, 1)), ("m", (4, 2, 1, 0))])
def test_empty_inputs_give_empty_spikes_like_cpsn(backend, step_mode, shape):
    module = _module(NARROW, step_mode=step_mode, backend=backend)
    spikes = module(torch.zeros(shape, dtype=torch.int16))
    assert spikes.shape == shape and spikes.dtype == torch.int16
    if step_mode == "s":  # the state is untouched: the next step starts the sequence
        assert module.x_window is None
    else:
        charge = module.charge(torch.zeros(shape, dtype=torch.int16))
        assert charge.shape == shape and charge.dtype == module.accumulator


@pytest.mark.parametrize("spike_dtype", ["float", torch.float32.__class__, 1])
def test_spike_dtype_must_be_a_torch_dtype(spike_dtype):
    with pytest.raises(TypeError, match="spike_dtype: expected a torch.dtype or None"):
        _module(NARROW, spike_dtype=spike_dtype)


@pytest.mark.parametrize("backend", ["torch", "kernel"])
def test_an_input_on_another_device_names_the_move(backend):
    module = _module(NARROW, backend=backend)
    with pytest.raises(ValueError, match=r"x: expected a tensor on cpu.*\.to\('meta'\)"):
        module(torch.zeros(3, 1, 1, dtype=torch.int16, device="meta"))


def test_a_plan_for_another_input_format_is_refused():
    plan = make_plan(NARROW, BIAS, 4, torch.int8)
    with pytest.raises(ValueError, match=r"plan: made for torch.int8 inputs with 4 fractional"):
        IntegerCPSN(plan, 1, 4, torch.int16)
    with pytest.raises(ValueError, match=r"make_plan\(weight, bias, 6, torch.int8\)"):
        IntegerCPSN(plan, 1, 6, torch.int8)


def test_a_hand_made_plan_is_checked_against_the_input_dtype():
    # shifts of 0 and 16 fit int32 for int8 inputs (bound 2**7 * 65537) but not for int16
    plan = make_plan(torch.tensor([[2.0**-12, 2.0**4]]), BIAS, 0, torch.int8)
    assert plan.accumulator == torch.int32
    unrecorded = dataclasses.replace(plan, dtype=None, frac_bits=None)
    assert IntegerCPSN(unrecorded, 1, 0, torch.int8).bound == plan.bound
    with pytest.raises(OverflowError, match=r"for torch.int16 inputs.*accumulator=torch.int64"):
        IntegerCPSN(unrecorded, 1, 0, torch.int16)


def test_the_state_dict_saves_the_input_format_and_round_trips(tmp_path):
    module = IntegerCPSN(make_plan(NARROW, BIAS, 4, torch.int16), 3, 4, torch.int16)
    assert module.state_dict()["_extra_state"] == {"frac_bits": 4, "dtype": "int16",
                                                   "dilation": 3}
    torch.save(module.state_dict(), tmp_path / "isn.pt")
    target = IntegerCPSN(make_plan(2 * NARROW, BIAS, 4, torch.int16), 3, 4, torch.int16)
    target.load_state_dict(torch.load(tmp_path / "isn.pt", weights_only=True))
    assert torch.equal(target.shift, module.shift)


@pytest.mark.parametrize("built", [dict(frac_bits=6), dict(dtype=torch.int32),
                                   dict(dilation=2)])
def test_loading_a_plan_made_for_another_format_or_dilation_is_refused(built):
    """Its integer thresholds are scaled for the saved format: loaded into a module built for
    another one, the spikes would be silently wrong."""
    args = dict(dilation=1, frac_bits=4, dtype=torch.int16)
    saved = IntegerCPSN(make_plan(WIDE, BIAS, 4, torch.int16), **args)
    args.update(built)
    plan = make_plan(NARROW, BIAS, args["frac_bits"], args["dtype"], torch.int64)
    target = IntegerCPSN(plan, **args)
    before = target.threshold.clone()
    with pytest.raises(ValueError, match=r"made for int16 inputs with 4 fractional bits and "
                       r"dilation 1.*to_integer\(cpsn, frac_bits=4, dtype=torch.int16\) of a "
                       r"CPSN with dilation=1 \(or IntegerCPSN\(plan, dilation=1, frac_bits=4, "
                       r"dtype=torch.int16\) from an IntegerPlan\)"):
        target.load_state_dict(saved.state_dict())
    assert torch.equal(target.threshold, before)  # nothing was copied


def test_a_malformed_saved_format_is_refused():
    module = _module(NARROW)
    with pytest.raises(ValueError, match=r"'_extra_state' entry to be a dict with keys"):
        module.load_state_dict({**module.state_dict(), "_extra_state": 4})


def test_int32_inputs_with_an_int32_accumulator_are_refused_up_front():
    """A plan that records no input format, with an int32 accumulator, was accepted for int32
    inputs and failed at the first forward on the kernel backend."""
    plan = make_plan(torch.zeros(1, 2), BIAS, 4, torch.int16, accumulator=torch.int32)
    plan = dataclasses.replace(plan, dtype=None, frac_bits=None)
    with pytest.raises(OverflowError, match=r"int32 inputs need a wider accumulator"):
        IntegerCPSN(plan, 1, 4, torch.int32, backend="kernel")
    assert IntegerCPSN(plan, 1, 4, torch.int16).accumulator == torch.int32
