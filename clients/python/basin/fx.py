"""Export a PyTorch model for basin: its architecture as basin's layer-graph JSON, traced with
torch.fx, and its weights as safetensors (written here: standard library and torch only).

    from basin.fx import export_architecture, save_safetensors
    arch = export_architecture(model, input_shape=(1, 28, 28))    # a dict: the request's "architecture"
    save_safetensors(model.state_dict(), "seed1.safetensors")

or from a shell, for a module built by a function that takes no arguments:

    python -m basin.fx mypackage.models:make_net --input 1,28,28 --out arch.json [--weights w.pt]

Covered: Sequential MLPs, VGG-style conv nets, ResNets with BatchNorm and residual adds (any
nn.Module whose forward uses these layers and +, flatten, view/reshape to (N, -1), global average
pooling), and timm-style Vision Transformers: timm's `PatchEmbed` and `Attention` blocks are kept
whole, a class token concatenated before the patch tokens, a position embedding added to them,
LayerNorm / Linear / GELU on tokens, and the class token (`x[:, 0]`) or the mean of the patch
tokens (`x[:, k:].mean(1)`) as the pooled features. Every layer name in the JSON is the module's
state_dict prefix, so the file saved from the same module loads without renaming. A module basin
cannot express is an error naming it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import operator
import struct
import sys
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
# where torch defines them (torch.fx re-exports both without declaring it, which mypy --strict refuses)
from torch.fx._symbolic_trace import Tracer
from torch.fx.node import Node

#: one layer of basin's architecture JSON
Layer = Dict[str, Any]
#: leaf module -> its layer (None: the module passes its input through)
Converter = Callable[[str, Any], Optional[Layer]]


class UnsupportedModel(ValueError):
    """The model uses something basin's layer kinds cannot express (the message names it)."""


# ---------------------------------------------------------------------------------------------
# safetensors

_DTYPES = {
    torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def _tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: the same 2 bytes as int16
        t = t.view(torch.int16)
    data: bytes = t.numpy().tobytes()
    return data


def save_safetensors(tensors: Mapping[str, torch.Tensor], path: str, metadata: Optional[Mapping[str, object]] = None) -> None:
    """Write a dict of tensors as a safetensors file (the format safetensors.torch.save_file writes)."""
    if sys.byteorder != "little":
        raise RuntimeError("safetensors is little-endian; this writer runs on little-endian hosts only")
    header: Dict[str, Any] = {}
    blobs: List[bytes] = []
    offset = 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name!r} is not a tensor")
        if t.dtype not in _DTYPES:
            raise TypeError(f"{name!r} has dtype {t.dtype}, which safetensors does not store")
        data = _tensor_bytes(t)
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------------------------------------
# tracing

def _square(v: Any, what: str) -> Any:
    if isinstance(v, (tuple, list)):
        if len(set(v)) != 1:
            raise UnsupportedModel(f"{what} {tuple(v)} is not square")
        return v[0]
    return v


def _linear(name: str, m: nn.Linear) -> Layer:
    return {"type": "linear", "name": name, "bias": m.bias is not None}


def _conv2d(name: str, m: nn.Conv2d) -> Layer:
    if m.groups != 1 or _square(m.dilation, f"{name}: dilation") != 1:
        raise UnsupportedModel(f"{name}: grouped or dilated convolutions are not supported")
    if m.padding_mode != "zeros":
        raise UnsupportedModel(f"{name}: padding_mode {m.padding_mode!r} is not supported")
    padding = m.padding if m.padding == "same" else _square(m.padding, f"{name}: padding")
    if padding == "valid":
        padding = 0
    _square(m.kernel_size, f"{name}: kernel")
    return {"type": "conv2d", "name": name, "stride": _square(m.stride, f"{name}: stride"), "padding": padding, "bias": m.bias is not None}


def _batchnorm(name: str, m: Union[nn.BatchNorm1d, nn.BatchNorm2d]) -> Layer:
    if not m.affine or not m.track_running_stats:
        raise UnsupportedModel(f"{name}: BatchNorm without affine parameters or running statistics")
    return {"type": "batchnorm", "name": name, "eps": m.eps}


def _layernorm(name: str, m: nn.LayerNorm) -> Layer:
    if not m.elementwise_affine or len(m.normalized_shape) != 1:
        raise UnsupportedModel(f"{name}: LayerNorm must be affine over the last dimension of a flat input")
    return {"type": "layernorm", "name": name, "eps": m.eps}


def _groupnorm(name: str, m: nn.GroupNorm) -> Layer:
    if m.num_groups != 1 or not m.affine:
        raise UnsupportedModel(f"{name}: only GroupNorm(1, C) (LayerNorm over a feature map) is supported")
    return {"type": "layernorm", "name": name, "eps": m.eps}


def _gelu_layer(approximate: Any) -> Layer:
    if approximate not in ("none", "tanh"):
        raise UnsupportedModel(f"GELU(approximate={approximate!r}) is not supported")
    return {"type": "gelu", "approximate": "tanh"} if approximate == "tanh" else {"type": "gelu"}


def _gelu(name: str, m: nn.GELU) -> Layer:
    return _gelu_layer(getattr(m, "approximate", "none"))


def _pool(kind: str) -> Converter:
    def convert(name: str, m: Any) -> Layer:
        if kind == "maxpool" and (_square(m.dilation, f"{name}: dilation") != 1 or m.ceil_mode):
            raise UnsupportedModel(f"{name}: dilated or ceil_mode max-pooling is not supported")
        if kind == "avgpool" and (m.ceil_mode or (m.padding and not m.count_include_pad) or m.divisor_override):
            raise UnsupportedModel(f"{name}: ceil_mode, count_include_pad=False or divisor_override average pooling is not supported")
        kernel = _square(m.kernel_size, f"{name}: kernel")
        stride = _square(m.stride if m.stride is not None else kernel, f"{name}: stride")
        out: Layer = {"type": kind, "kernel": kernel, "stride": stride}
        padding = _square(m.padding, f"{name}: padding")
        if padding:
            out["padding"] = padding
        return out
    return convert


def _adaptive_avgpool(name: str, m: nn.AdaptiveAvgPool2d) -> Layer:
    if _square(m.output_size, f"{name}: output size") != 1:
        raise UnsupportedModel(f"{name}: AdaptiveAvgPool2d to {m.output_size} (basin has global average pooling, to 1x1)")
    return {"type": "globalavgpool"}


def _flatten_module(name: str, m: nn.Flatten) -> Layer:
    if m.start_dim != 1 or m.end_dim != -1:
        raise UnsupportedModel(f"{name}: Flatten must flatten every dimension after the batch")
    return {"type": "flatten"}


def _passthrough(name: str, m: nn.Module) -> None:
    return None


def _timm_patch_embed(name: str, m: nn.Module) -> Layer:
    """timm's PatchEmbed: a conv whose kernel and stride are the patch size, flattened to tokens."""
    proj = getattr(m, "proj", None)
    if not isinstance(proj, nn.Conv2d) or not isinstance(getattr(m, "norm", nn.Identity()), nn.Identity) or not getattr(m, "flatten", True):
        raise UnsupportedModel(f"{name} ({type(m).__name__}): basin reads a patch embedding with a `proj` Conv2d, no norm, flattened to tokens")
    patch = _square(proj.kernel_size, f"{name}.proj: kernel")
    if _square(proj.stride, f"{name}.proj: stride") != patch or _square(proj.padding, f"{name}.proj: padding") != 0 or proj.groups != 1:
        raise UnsupportedModel(f"{name}.proj: a patch embedding's stride must equal its kernel, without padding or groups")
    return {"type": "patchembed", "name": f"{name}.proj", "patch": patch, "out": proj.out_channels, "bias": proj.bias is not None}


def _timm_attention(name: str, m: nn.Module) -> Layer:
    """timm's Attention: one fused `qkv` Linear (rows q, k, v, head-major), `proj`, `num_heads`."""
    qkv, proj, heads = getattr(m, "qkv", None), getattr(m, "proj", None), getattr(m, "num_heads", None)
    if not isinstance(qkv, nn.Linear) or not isinstance(proj, nn.Linear) or not isinstance(heads, int):
        raise UnsupportedModel(f"{name} ({type(m).__name__}): basin reads timm's Attention (qkv and proj Linears, num_heads)")
    for extra in ("q_norm", "k_norm", "norm"):
        if not isinstance(getattr(m, extra, nn.Identity()), nn.Identity):
            raise UnsupportedModel(f"{name}.{extra}: attention with normalised queries, keys or outputs is not a layer kind basin has")
    return {"type": "attention", "name": name, "heads": heads, "qkv": "fused",
            "qkvBias": qkv.bias is not None, "projBias": proj.bias is not None}


def _unsupported_transformer(name: str, m: nn.Module) -> Layer:
    raise UnsupportedModel(
        f"{name} ({type(m).__name__}): basin's attention reads timm's Attention (a fused qkv Linear and proj); "
        "for a Hugging Face ViT, save it with save_pretrained and give basin the folder (its config.json describes it)")


#: leaf module type -> converter(name, module) -> layer dict (or None: the module passes its input through)
MODULES: Dict[type, Converter] = {
    nn.Linear: _linear,
    nn.Conv2d: _conv2d,
    nn.BatchNorm1d: _batchnorm,
    nn.BatchNorm2d: _batchnorm,
    nn.LayerNorm: _layernorm,
    nn.GroupNorm: _groupnorm,
    nn.ReLU: lambda name, m: {"type": "relu"},
    nn.GELU: _gelu,
    nn.Flatten: _flatten_module,
    nn.MaxPool2d: _pool("maxpool"),
    nn.AvgPool2d: _pool("avgpool"),
    nn.AdaptiveAvgPool2d: _adaptive_avgpool,
    nn.Identity: _passthrough,
    nn.Dropout: _passthrough,
    nn.Dropout2d: _passthrough,
    nn.MultiheadAttention: _unsupported_transformer,
}

#: class names of blocks kept whole while tracing: timm's transformer parts, and the ones basin
#: refuses by name (Hugging Face's ViT modules, torch's own encoder layer)
BLOCKS: Dict[str, Converter] = {"Attention": _timm_attention, "PatchEmbed": _timm_patch_embed, "DropPath": _passthrough, "ViTEmbeddings": _unsupported_transformer,
          "ViTSelfAttention": _unsupported_transformer, "TransformerEncoderLayer": _unsupported_transformer}


def _converter(m: nn.Module) -> Optional[Converter]:
    for cls in type(m).__mro__:
        if cls in MODULES:
            return MODULES[cls]
    return BLOCKS.get(type(m).__name__)


class _Tracer(Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return type(m).__name__ in BLOCKS or bool(super().is_leaf_module(m, qualname))


def _flat_view(node: Node) -> bool:
    """view / reshape to (N, -1) (written x.view(x.size(0), -1) or x.reshape(len(x), -1)) is a flatten."""
    dims: Sequence[Any] = node.args[1:]
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    return len(dims) == 2 and dims[1] == -1


_FUNCTIONS: Dict[Any, str] = {
    F.relu: "relu", torch.relu: "relu",
}


def export_architecture(model: nn.Module, input_shape: Sequence[int]) -> Dict[str, Any]:
    """basin's architecture JSON (a dict) for `model` taking inputs of `input_shape` ((C, H, W) or (D,))."""
    dims = [int(d) for d in input_shape]
    if len(dims) not in (1, 3):
        raise UnsupportedModel(f"input shape {tuple(dims)}: basin takes (C, H, W) images or (D,) vectors")
    modules = dict(model.named_modules())
    for name, m in modules.items():
        if _converter(m) is _unsupported_transformer:
            _unsupported_transformer(name or type(model).__name__, m)  # before tracing: say what is refused, not where tracing stops
    graph = _Tracer().trace(model)
    layers: List[Layer] = []
    ids: Dict[Node, str] = {}  # fx node -> basin layer id ('input' for the placeholder)
    used: Set[str] = set()
    last = "input"
    output: Optional[str] = None

    params: Dict[Node, str] = {}  # get_attr of a parameter (and its .expand): a class token or position embedding
    token_slices: Dict[Node, Tuple[str, int]] = {}  # x[:, k:] -> (x's id, k), awaiting its .mean(1)

    def id_for(node: Any) -> str:
        if node in params:
            raise UnsupportedModel(
                f"{node.format_node()}: forward reads the parameter {params[node]} directly; basin reads one only as a class token "
                "(torch.cat([token.expand(len(x), -1, -1), x], dim=1)) or a position embedding (x + pos_embed)")
        if node not in ids:
            raise UnsupportedModel(f"{node.format_node()}: its input is not something basin computes")
        return ids[node]

    def token_index(index: Any) -> Optional[Tuple[str, int]]:
        """x[:, 0] -> ('token', 0); x[:, k:] -> ('from', k); anything else None."""
        if not isinstance(index, tuple) or len(index) != 2 or index[0] != slice(None):
            return None
        if isinstance(index[1], int) and index[1] == 0:
            return ("token", 0)
        if isinstance(index[1], slice) and index[1].stop is None and index[1].step is None and isinstance(index[1].start or 0, int):
            return ("from", index[1].start or 0)
        return None

    def emit(node: Node, layer: Optional[Layer], inputs: List[str]) -> None:
        nonlocal last
        if layer is None:  # passes its input through
            ids[node] = inputs[0]
            return
        if "name" not in layer:
            base, k = node.name, 1
            while base in used:
                base, k = f"{node.name}_{k}", k + 1
            layer["id"] = base
        lid = layer.get("id", layer.get("name"))
        used.add(lid)
        if layer["type"] == "add" or inputs != [last]:
            layer["inputs"] = inputs
        layers.append(layer)
        ids[node] = lid
        last = lid

    for node in graph.nodes:
        tensor_args = [a for a in node.args if isinstance(a, Node)]
        if node.op == "placeholder":
            if ids:
                raise UnsupportedModel(f"forward takes more than one input ({node.name})")
            ids[node] = "input"
        elif node.op == "call_module":
            m = modules[str(node.target)]
            convert = _converter(m)
            if convert is None:
                raise UnsupportedModel(f"{node.target} ({type(m).__name__}) is not a layer kind basin has")
            emit(node, convert(str(node.target), m), [id_for(tensor_args[0])])
        elif node.op == "call_function":
            fn = node.target
            if fn in (operator.add, torch.add, operator.iadd) and len(tensor_args) == 2 and sum(a in params for a in tensor_args) == 1:
                pos, x = (tensor_args[0], tensor_args[1]) if tensor_args[0] in params else (tensor_args[1], tensor_args[0])
                emit(node, {"type": "posembed", "name": params[pos]}, [id_for(x)])
            elif fn is torch.cat:
                parts = node.args[0]
                dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
                if not isinstance(parts, (list, tuple)) or dim != 1 or not all(isinstance(a, Node) and a in params for a in parts[:-1]) or parts[-1] in params:
                    raise UnsupportedModel(f"{node.format_node()}: basin concatenates only learned tokens before the sequence (torch.cat([cls_token, x], dim=1))")
                src = id_for(parts[-1])
                for tok in reversed(parts[:-1]):  # each clstoken puts its tokens first: the last one in the list goes in first
                    emit(node, {"type": "clstoken", "name": params[tok]}, [src])
                    src = ids[node]
            elif fn is operator.getitem and node.args[0] in ids and (picked := token_index(node.args[1])) is not None:
                how, k = picked
                if how == "token":
                    emit(node, {"type": "tokenpool", "pool": "token"}, [id_for(node.args[0])])
                else:
                    token_slices[node] = (id_for(node.args[0]), k)
            elif fn is F.gelu:
                emit(node, _gelu_layer(node.kwargs.get("approximate", "none")), [id_for(tensor_args[0])])
            elif fn in (operator.add, torch.add, operator.iadd):
                if len(tensor_args) != 2 or node.kwargs:
                    raise UnsupportedModel(f"{node.format_node()}: only the sum of two tensors is supported")
                emit(node, {"type": "add"}, [id_for(a) for a in tensor_args])
            elif fn in _FUNCTIONS:
                emit(node, {"type": _FUNCTIONS[fn]}, [id_for(tensor_args[0])])
            elif fn is torch.flatten:
                if (node.args[1:] or [node.kwargs.get("start_dim", 0)])[0] != 1:
                    raise UnsupportedModel(f"{node.format_node()}: flatten must start at dim 1")
                emit(node, {"type": "flatten"}, [id_for(tensor_args[0])])
            elif fn is F.adaptive_avg_pool2d:
                if _square(node.args[1], "adaptive_avg_pool2d output size") != 1:
                    raise UnsupportedModel(f"{node.format_node()}: only global average pooling (output size 1)")
                emit(node, {"type": "globalavgpool"}, [id_for(tensor_args[0])])
            elif (fn is operator.getitem and node.args[0] not in ids) or fn is getattr:
                continue  # x.size()[0], x.shape: sizes for a view / reshape, not tensors
            else:
                raise UnsupportedModel(f"{node.format_node()}: the function {getattr(fn, '__name__', fn)} is not a layer kind basin has")
        elif node.op == "call_method":
            if node.target in ("size", "dim"):
                continue  # feeds a view/reshape below
            if node.target == "expand" and node.args[0] in params:
                params[node] = params[node.args[0]]  # cls_token.expand(N, -1, -1): the same tokens for every sample
                continue
            if node.target == "mean" and node.args[0] in token_slices:
                if tuple(node.args[1:2] or [node.kwargs.get("dim")])[0] not in (1, (1,), [1]):
                    raise UnsupportedModel(f"{node.format_node()}: tokens are averaged over dim 1")
                src, k = token_slices[node.args[0]]
                emit(node, {"type": "tokenpool", "pool": "avg", "skip": k}, [src])
                continue
            src = id_for(node.args[0])
            if node.target in ("relu", "relu_"):
                emit(node, {"type": "relu"}, [src])
            elif node.target == "flatten" and (node.args[1:] or [node.kwargs.get("start_dim", 0)])[0] == 1:
                emit(node, {"type": "flatten"}, [src])
            elif node.target in ("view", "reshape") and _flat_view(node):
                emit(node, {"type": "flatten"}, [src])
            elif node.target == "mean" and tuple(node.args[1:2] or [node.kwargs.get("dim")])[0] in ((2, 3), [2, 3], (-2, -1), [-2, -1]):
                emit(node, {"type": "globalavgpool"}, [src])
            elif node.target == "mean" and tuple(node.args[1:2] or [node.kwargs.get("dim")])[0] in (1, (1,), [1]):
                emit(node, {"type": "tokenpool", "pool": "avg"}, [src])  # the mean of every token
            else:
                raise UnsupportedModel(f"{node.format_node()}: the method .{node.target}() is not a layer kind basin has")
        elif node.op == "output":
            out = node.args[0]
            if not isinstance(out, Node):
                raise UnsupportedModel("forward must return one tensor (the logits)")
            output = id_for(out)
        elif node.op == "get_attr":
            params[node] = str(node.target)  # used as a class token or a position embedding above, refused anywhere else
    if not layers:
        raise UnsupportedModel("the model has no layers basin reads")
    arch: Dict[str, Any] = {"layout": "pytorch", "input": dims, "layers": layers}
    if output != last:
        arch["output"] = output
    return arch


def _main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m basin.fx", description="Write basin's architecture JSON for a PyTorch model.")
    p.add_argument("factory", help="module.path:function returning the nn.Module (called with no arguments)")
    p.add_argument("--input", required=True, help="input shape, e.g. 1,28,28 or 784")
    p.add_argument("--out", default="-", help="architecture JSON file (default: stdout)")
    p.add_argument("--weights", help="also load this state_dict (torch.save file) and write it as safetensors to --safetensors")
    p.add_argument("--safetensors", help="where to write the weights")
    a = p.parse_args(argv)
    module_name, _, fn = a.factory.partition(":")
    model = getattr(importlib.import_module(module_name), fn)()
    if a.weights:
        model.load_state_dict(torch.load(a.weights, map_location="cpu"))
    try:
        arch = export_architecture(model, [int(d) for d in a.input.replace("x", ",").split(",")])
    except UnsupportedModel as e:
        print(f"unsupported_model: {e}", file=sys.stderr)
        return 2
    text = json.dumps(arch, indent=1)
    if a.out == "-":
        print(text)
    else:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    if a.safetensors:
        save_safetensors(model.state_dict(), a.safetensors)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
