"""``timm:<name>``: any timm architecture as a merbench model.

``timm:resnet18``, ``timm:convmixer_768_32``, ... are members of the ``timm:``
name family: the model is ``timm.create_model(name, num_classes=..., in_chans=...)``
so the stem takes the preprocessor's channels and the head gives the run's
classes. Pretrained weights are used only from a local file: ``--set
model.weights=FILE`` (a ``.safetensors``/``.pth`` state dict), or with ``--set
model.pretrained=true`` from where timm's own fetch put them (the Hugging Face cache, or torch's hub folder for
weights timm fetches from a URL). merbench
never downloads at run time; without local weights it stops with an error that
says how to fetch them once. With weights, timm adapts the stem to the input
channels, and the classifier is always new (initialised for the run's classes).
"""

from __future__ import annotations

import difflib
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from torch import nn

from merbench.errors import ModelNote, UsageError, checkpoint_refusal
from merbench.wording import some_of

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
NOT_A_CHECKPOINT = ("Unsupported operand", "PytorchStreamReader", "inline_container", 'hasRecord("',
                    "Invalid magic number")
"""Parts of torch's texts for a file that is no checkpoint: bytes that are no pickle, a zip that is not torch's."""


def check_name(name: str) -> None:
    """``UsageError`` unless ``name`` is a timm architecture (with the closest names); the family's ``check_member``."""
    import timm

    if not name or not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join('timm:' + c for c in close)}?" if close else ""
        raise UsageError(f"'timm:{name}' is not a timm architecture.{hint} See python -c \"import timm; print(timm.list_models('*resnet*'))\"")


def weight_sources(name: str) -> tuple[str | None, str | None]:
    """Where timm fetches the pretrained weights of ``name`` from: its Hugging Face hub id and its URL (either
    ``None``; both for an architecture timm has no weights of)."""
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    return (getattr(cfg, "hf_hub_id", None) or None, getattr(cfg, "url", None) or None) if cfg is not None else (None, None)


def cached_weights(name: str) -> Path | None:
    """The pretrained weights of ``name`` where timm's fetch put them, or None (no download): the local Hugging Face
    cache, or for weights timm fetches from a URL, torch's hub folder (``checkpoints/``, where timm looks first)."""
    from urllib.parse import urlparse

    import torch
    from huggingface_hub import try_to_load_from_cache

    hub_id, url = weight_sources(name)
    for filename in WEIGHT_FILES if hub_id else ():
        found = try_to_load_from_cache(hub_id, filename)
        if isinstance(found, str):
            return Path(found)
    if url:
        fetched = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name
        if fetched.is_file():
            return fetched
    return None


def weights_file(name: str, options: dict[str, Any]) -> Path | None:
    """The local weights to load for ``options`` (None: random initialisation)."""
    if str(options["weights"]):
        path = Path(str(options["weights"])).expanduser()
        if not path.is_file():
            raise UsageError(f"model.weights={path}: no such file; give a local .safetensors or .pth state dict of timm:{name}")
        return path
    if not bool(options["pretrained"]):
        return None
    found = cached_weights(name)
    if found is None and weight_sources(name) == (None, None):
        raise UsageError(f"model.pretrained=true: timm has no pretrained weights for timm:{name}; give a file with "
                         "--set model.weights=FILE, or use --set model.pretrained=false")
    if found is None:
        raise UsageError(
            f"model.pretrained=true: no local pretrained weights for timm:{name} (merbench does not download at run time). "
            f"Fetch them once with: python -c \"import timm; timm.create_model('{name}', pretrained=True)\", "
            "or give a file with --set model.weights=FILE, or use --set model.pretrained=false"
        )
    return found


def read_files(name: str, options: dict[str, Any]) -> dict[str, Path]:
    """The pretrained weights ``model.pretrained=true`` loads from timm's download cache (no ``model.weights``
    file), as ``{"model.pretrained": path}``, for the run to record by their content; empty otherwise."""
    if str(options.get("weights") or "") or not bool(options.get("pretrained")):
        return {}
    found = cached_weights(name)
    return {"model.pretrained": found} if found is not None else {}


def not_a_state_dict_errors() -> tuple[type[Exception], ...]:
    """What loading a file that is no state dict raises beyond ``RuntimeError``/``UnpicklingError``: torch's
    weights-only unpickler on arbitrary bytes (``IndexError``, ``EOFError``, ``KeyError``...), safetensors on a bad
    header, and timm on a checkpoint that holds something else than a mapping of tensors (``AttributeError``)."""
    from safetensors import SafetensorError

    return (IndexError, EOFError, KeyError, TypeError, AttributeError, UnicodeDecodeError, SafetensorError)


def is_no_checkpoint(exc: Exception) -> bool:
    """Whether loading failed because the file is no checkpoint at all (arbitrary bytes, text, an empty file, a zip
    that is not torch's), rather than a checkpoint of other tensors or of pickled objects."""
    cause = exc.__cause__ or exc.__context__  # timm re-raises torch's refusal as a RuntimeError
    return isinstance(exc, not_a_state_dict_errors()) or any(marker in f"{exc} {cause}" for marker in NOT_A_CHECKPOINT)


def weights_refusal(name: str, weights: Path, exc: Exception) -> UsageError:
    """The refusal of a ``model.weights`` file that could not be loaded into ``timm:NAME``."""
    if not is_no_checkpoint(exc):
        return UsageError(f"timm:{name}: could not load the weights {weights}: {checkpoint_refusal(str(exc))}")
    detail = f" ({type(exc).__name__}: {exc})" if isinstance(exc, not_a_state_dict_errors()) and str(exc) else ""
    return UsageError(f"timm:{name}: could not load the weights {weights}: not a .safetensors or .pth state dict{detail}; "
                      f"give a state dict of timm:{name} (torch.save(model.state_dict(), FILE) or a .safetensors file), "
                      "or leave model.weights empty")


STATE_DICT_KEYS = ("state_dict", "model", "state_dict_ema", "model_ema")
"""Where a training checkpoint keeps its state dict (the keys timm's own loader looks under)."""
MIN_SHARED = 0.5
"""The share of a model's tensors a weights file must name for its weights to count as this model's."""


def tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """The tensors of a state dict file (``.safetensors`` or a torch file) by name, without a ``module.`` prefix, as
    their shapes."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            shapes = {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}
    else:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
        for key in STATE_DICT_KEYS:
            if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
                loaded = loaded[key]
                break
        shapes = ({str(name): tuple(getattr(value, "shape", ())) for name, value in loaded.items()}
                  if isinstance(loaded, dict) else {})
    return {name.removeprefix("module."): shape for name, shape in shapes.items()}


def check_weights_match(name: str, weights: Path, model: nn.Module, names: set[str] | dict[str, Any]) -> None:
    """``UsageError`` when ``weights`` (whose tensor names are ``names``: ``tensor_shapes(weights)``) names too few of
    the model's tensors: timm loads a replaced head's weights leniently, so a state dict of another network would load
    nothing, silently, and training start from random."""
    own, names = set(model.state_dict()), set(names)
    if not own:
        return
    shared = len(own & names)
    if shared < MIN_SHARED * len(own):
        raise UsageError(f"timm:{name}: the weights {weights} name {shared} of the model's {len(own)} tensors: they are "
                         f"not weights of timm:{name}, and training would start from random weights; give a state dict "
                         f"of timm:{name} (torch.save(model.state_dict(), FILE)), or leave model.weights empty")
    extra = sorted(n for n in names - own if not _is_head(model, n))
    if len(extra) > MAX_EXTRA * len(own):
        raise UsageError(f"timm:{name}: the weights {weights} hold {len(extra)} tensors timm:{name} lacks "
                         f"({some_of(extra, 3)}): they are weights of another network that shares timm:{name}'s first "
                         f"layers' names (a deeper one of its family?), of which only those would load; give a state "
                         f"dict of timm:{name} itself, or leave model.weights empty")


MAX_EXTRA = 0.1
"""The share of a model's tensor count a weights file may name beyond the model's own (its classifier left out):
a few stray buffers pass; a deeper network of the same family (resnet34's weights for resnet18) does not."""


def check_patches(name: str, model: nn.Module, input_size: int) -> None:
    """``UsageError`` when ``model`` cuts its input into patches (a ViT's ``patch_embed``) that do not divide
    ``input_size``: the rows and columns past the last whole patch would never reach the network (a 16-pixel patch
    of a 28x28 flow image sees its top-left 16x16 only), naming the sizes the patches divide."""
    embed = getattr(model, "patch_embed", None)
    patch = getattr(embed, "patch_size", None)
    if embed is None or patch is None or getattr(embed, "dynamic_img_pad", False):
        return
    side = int(patch[0] if isinstance(patch, (tuple, list)) else patch)
    if side <= 1 or input_size % side == 0:
        return
    lower, upper = input_size // side * side, (input_size // side + 1) * side
    sizes = f"{lower} or {upper}" if lower else str(upper)
    raise UsageError(f"timm:{name}: its {side}x{side} patches do not divide {input_size}x{input_size} inputs: the last "
                     f"{input_size - lower} rows and columns would never reach the network; use an input of {sizes} "
                     f"pixels (--set flow.size={upper} for the flow chain, image.size={upper} for the image chain)")


@contextmanager
def _timm_warnings_held(loading: bool) -> Iterator[None]:
    """While ``loading`` a weights file, timm's warnings about its keys are not printed: timm logs a line of every
    unexpected key (thousands of characters, once per fold's build), which ``check_weights_match`` says in one
    message instead."""
    logger = logging.getLogger("timm")
    level = logger.level
    if loading:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _create(name: str, input_size: int, **kwargs: Any) -> nn.Module:
    """``timm.create_model(name, **kwargs)`` for ``input_size`` inputs: transformers take the size (their position
    tables depend on it); convolutional networks do not take it."""
    import timm

    try:
        return timm.create_model(name, img_size=input_size, **kwargs)
    except TypeError:
        return timm.create_model(name, **kwargs)


def _first_convs(model: nn.Module) -> tuple[str, ...]:
    """The names of the weights of ``model``'s stem convolutions (timm's ``first_conv``), e.g. ``("conv1.weight",)``."""
    convs = (getattr(model, "pretrained_cfg", None) or {}).get("first_conv") or ()
    return tuple(f"{conv}.weight" for conv in ((convs,) if isinstance(convs, str) else convs))


def _is_head(model: nn.Module, tensor: str) -> bool:
    """Whether ``tensor`` belongs to ``model``'s classifier (replaced for the run's classes: never loaded)."""
    heads = (getattr(model, "pretrained_cfg", None) or {}).get("classifier") or ()
    return any(tensor == head or tensor.startswith(f"{head}.") for head in ((heads,) if isinstance(heads, str) else heads))


def _reshaped(model: nn.Module, shapes: dict[str, tuple[int, ...]]) -> tuple[dict[str, tuple[int, ...]], list[str]]:
    """``model``'s tensor shapes by name, and the names (sorted) of those the weights (``shapes``) hold in another
    shape, beside its classifier (always new) and its stem (timm adapts it to the input channels)."""
    own = {tensor: tuple(value.shape) for tensor, value in model.state_dict().items()}
    stems = _first_convs(model)
    return own, [tensor for tensor in sorted(own) if tensor in shapes and shapes[tensor] != own[tensor]
                 and not _is_head(model, tensor) and tensor not in stems]


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape) or "a scalar"


def shape_refusal(name: str, weights: Path, shapes: dict[str, tuple[int, ...]], in_channels: int, n_classes: int,
                  input_size: int) -> UsageError | None:
    """Why ``weights`` (of tensors ``shapes``) do not load into ``timm:NAME``, when their tensors' shapes say it: a
    stem of another channel count than the run's input and the 3 (RGB) timm adapts from, or tensors of another width
    (a wider or narrower network of the family); ``None`` when the shapes do not explain it. The model is built on
    the meta device for its shapes (no memory, no time)."""
    import torch

    with torch.device("meta"):
        model = _create(name, input_size, num_classes=n_classes, in_chans=in_channels)
    own, reshaped = _reshaped(model, shapes)
    for stem in _first_convs(model):
        if stem in shapes and stem in own and len(shapes[stem]) == 4 and shapes[stem][1] not in (3, own[stem][1]):
            given = shapes[stem][1]
            takes = "3 channels (RGB, which timm adapts)" + ("" if in_channels == 3 else f" or {in_channels}")
            example = ",".join(("u", "v", "strain", "magnitude", "apex")[:given]) if given <= 5 else None
            make = (f", or make inputs of {given} (for the flow chain, e.g. --set flow.channels={example})"
                    if example else "")
            return UsageError(
                f"timm:{name}: the weights {weights} have a stem ({stem}) for {given}-channel inputs, and the run's "
                f"inputs have {in_channels} channels: timm adapts the stems of 3-channel (RGB) weights only; give "
                f"weights whose stem takes {takes}{make}")
    other = [tensor for tensor in reshaped if "pos" not in tensor]  # position tables: timm interpolates them
    if not other:
        return None
    first = other[0]
    return UsageError(f"timm:{name}: the weights {weights} hold {len(other)} of timm:{name}'s tensors in other shapes "
                      f"({first}: {_shape(shapes[first])} in the file, {_shape(own[first])} in the model): they are "
                      f"weights of a wider or narrower network of its family; give a state dict of timm:{name} "
                      "itself, or leave model.weights empty")


def resampled_note(name: str, model: nn.Module, shapes: dict[str, tuple[int, ...]], input_size: int) -> str | None:
    """What timm changed of the weights' tensors (``shapes``) to load them into ``model`` beyond its classifier and
    stem: a transformer's position tables, interpolated from the input size the weights were made for to
    ``input_size``; ``None`` when it loaded them as they are."""
    own, changed = _reshaped(model, shapes)
    if not changed:
        return None
    first = changed[0]
    more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
    made_for = _weights_input_size(model, shapes)
    size = (f"{made_for}x{made_for} inputs; use --set flow.size={made_for} (or image.size={made_for})" if made_for
            else "another input size; use that size (flow.size or image.size)")
    return (f"timm:{name}: timm interpolated the weights' {first} ({_shape(shapes[first])} → {_shape(own[first])}"
            f"{more}) to {input_size}x{input_size} inputs: the pretrained position tables were made for {size} to "
            "fine-tune them as they are")


def _weights_input_size(model: nn.Module, shapes: dict[str, tuple[int, ...]]) -> int | None:
    """The input size a ViT's weights (``shapes``) were made for, from the positions of their ``pos_embed`` (a square
    grid of patches after the class tokens), or ``None`` where that does not tell it."""
    import math

    patch = getattr(getattr(model, "patch_embed", None), "patch_size", None)
    positions = shapes.get("pos_embed", ())
    if patch is None or len(positions) != 3:
        return None
    prefix = 0 if getattr(model, "no_embed_class", False) else int(getattr(model, "num_prefix_tokens", 0))
    grid = math.isqrt(max(positions[1] - prefix, 0))
    side = int(patch[0] if isinstance(patch, (tuple, list)) else patch)
    return grid * side if grid and grid * grid == positions[1] - prefix else None


def build_model(name: str, options: dict[str, Any], in_channels: int, n_classes: int, input_size: int) -> nn.Module:
    """Build timm architecture ``name`` for ``in_channels`` inputs and ``n_classes`` outputs."""
    import pickle
    import warnings

    check_name(name)
    drop_rate = float(options["drop_rate"])
    if not 0.0 <= drop_rate < 1.0:
        raise UsageError(f"model.drop_rate={options['drop_rate']}: must be in [0, 1)")
    weights = weights_file(name, options)
    kwargs: dict[str, Any] = {"num_classes": n_classes, "in_chans": in_channels, "drop_rate": drop_rate}
    if weights is not None:
        kwargs.update(pretrained=True, pretrained_cfg_overlay={"file": str(weights)})
    shapes: dict[str, tuple[int, ...]] | None = None
    try:
        # Read by merbench first, as tensors only (weights_only=True, or safetensors): timm then loads the file
        # itself, and timm 0.9 on torch < 2.6 would unpickle whatever it holds, running any code in it.
        shapes = tensor_shapes(weights) if weights is not None else None
        with _timm_warnings_held(weights is not None):
            model = _create(name, input_size, **kwargs)
        if weights is not None:
            check_weights_match(name, weights, model, shapes)
    except (RuntimeError, ValueError, AssertionError, OSError, pickle.UnpicklingError) as exc:
        if weights is not None:
            diagnosis = shape_refusal(name, weights, shapes, in_channels, n_classes, input_size) if shapes else None
            raise (diagnosis or weights_refusal(name, weights, exc)) from None
        raise UsageError(f"timm:{name}: cannot be built for {in_channels}x{input_size}x{input_size} inputs: {exc}") from None
    except not_a_state_dict_errors() as exc:
        if weights is None:  # not a weights file's fault: the plugin's, reported as such
            raise
        raise weights_refusal(name, weights, exc) from None
    check_patches(name, model, input_size)
    first = next(model.parameters(), None)
    if first is not None and first.is_meta:  # the preflight's build: free there, costly in each fold
        note = resampled_note(name, model, shapes, input_size) if shapes else None
        if note:
            warnings.warn(note, ModelNote, stacklevel=1)
        check_forward(name, model, in_channels, input_size,
                      lambda size: _create(name, size, num_classes=n_classes, in_chans=in_channels))
    return model


SIZES = (16, 24, 28, 32, 48, 64, 96, 112, 128, 160, 224, 256, 299, 320, 384, 448, 512)
"""Input sizes tried, on the meta device, to name the smallest one a network takes."""


def _takes(model: nn.Module, in_channels: int, size: int) -> str | None:
    """Why ``model``, on the meta device, cannot map a (1, in_channels, size, size) input to logits (torch's or the
    network's text), or ``None`` when it can."""
    import torch

    training = model.training
    model.eval()  # one sample through batch norm's training statistics would fail for another reason
    try:
        with torch.no_grad():
            model(torch.zeros(1, in_channels, size, size, device="meta"))
        return None
    except (RuntimeError, ValueError, AssertionError, IndexError) as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    finally:
        model.train(training)


def check_forward(name: str, model: nn.Module, in_channels: int, input_size: int,
                  build_at: Callable[[int], nn.Module] | None = None) -> None:
    """``UsageError`` when ``model`` (built on the meta device) cannot take a batch of the run's input size, saying
    why and which of ``SIZES`` it takes (each tried on ``build_at(size)``, the model built for that size, on the meta
    device: at no cost): layers that shrink a small input to nothing (``at least`` the smallest size), or a network
    built for particular sizes only (those named). So a network that cannot take the input is refused before
    anything is preprocessed, when the preflight builds it (and ``list``/``info`` name it); the folds' own builds
    skip it."""
    import torch

    failed = _takes(model, in_channels, input_size)
    if failed is None:
        return

    def takes(size: int) -> bool:
        with torch.device("meta"):
            candidate = build_at(size) if build_at is not None else model
        return _takes(candidate, in_channels, size) is None

    sizes = [size for size in SIZES if size != input_size and takes(size)]
    larger = [size for size in sizes if size > input_size]
    grows = bool(larger) and all(size in sizes for size in SIZES if size >= larger[0])
    flag = "flow.size={0} (flow chain) or image.size={0} (image chain)"
    shrink = "its layers shrink them to nothing, or its patches are larger"
    if grows:
        why, hint = shrink, (f"raise the input size to at least {larger[0]} with the size of the step that makes it: "
                             f"--set {flag.format(larger[0])}")
    elif sizes:
        why = f"it is built for particular input sizes: {failed}"
        hint = (f"of the sizes tried ({SIZES[0]} to {SIZES[-1]} pixels) it takes "
                f"{', '.join(str(size) for size in sizes)}; use one of them, e.g. --set "
                f"{flag.format(larger[0] if larger else sizes[-1])}")
    else:
        why, hint = f"{shrink}: {failed}", ("raise the size of the preprocessing step that makes the model's input "
                                            "(flow.size or image.size), or choose another architecture")
    raise UsageError(f"model 'timm:{name}' cannot take inputs of {input_size}x{input_size} pixels ({why}); {hint}")
