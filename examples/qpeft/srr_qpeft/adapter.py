# SPDX-License-Identifier: MIT
"""The files of an srr export that QPEFT reads (docs/qpeft.md): qpeft.json (per layer k* = freeze_rank and the
singular values s_vals of the initial product), adapter_config.json + adapter_model.safetensors (PEFT LoRA:
base + scaling * lora_B @ lora_A), and the adapter this client writes back for `srr eval --adapter`."""
import json
import os

from . import QpeftInputError
from . import safetensors

PREFIX = "base_model.model."
QPEFT_FILE = "qpeft.json"
FORMAT, VERSION = "srr-qpeft", 1


def read_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise QpeftInputError(f"cannot read {what} '{path}': {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise QpeftInputError(f"{what} '{path}' is not JSON ({e})") from None


def read_metadata(adapter_dir):
    """qpeft.json of an export, checked; a directory without one is refused with the hint to re-export."""
    path = os.path.join(str(adapter_dir), QPEFT_FILE)
    if not os.path.exists(path):
        raise QpeftInputError(f"'{adapter_dir}' has no {QPEFT_FILE} (QPEFT metadata: k* per layer, s_vals): it was "
                              "exported by an older srr; re-export the store with `srr export --peft-convention "
                              "release` (docs/qpeft.md)")
    meta = read_json(path, "QPEFT metadata")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise QpeftInputError(f"'{path}' is not srr QPEFT metadata of format {FORMAT} version {VERSION}; re-export")
    for key in ("r", "lora_alpha", "layers"):
        if key not in meta:
            raise QpeftInputError(f"'{path}': field '{key}' is missing; re-export")
    for name, layer in meta["layers"].items():
        r, k = layer_rank(meta, name), layer.get("freeze_rank")
        if not isinstance(r, int) or r < 0:
            raise QpeftInputError(f"'{path}': layer {name} has rank {r}")
        if not isinstance(k, int) or not 0 <= k <= r or len(layer.get("s_vals", [])) not in (0, r):
            raise QpeftInputError(f"'{path}': layer {name} has freeze_rank {k} and {len(layer.get('s_vals', []))} "
                                  f"s_vals for r = {r}")
    return meta


def layer_rank(meta, name):
    """The rank of one layer: its own `r` in qpeft.json (a store made with a plan), else the export's r."""
    return meta["layers"][name].get("r", meta["r"])


def pattern_value(pattern, module, default):
    """PEFT's rank_pattern/alpha_pattern lookup: the value of the key that is the module's name or its trailing
    dotted components (srr writes `layers.0.mlp.up_proj`), else the default."""
    for key, value in (pattern or {}).items():
        if module == key or module.endswith("." + key):
            return value
    return default


def pattern_key(module):
    """The key srr export writes into rank_pattern/alpha_pattern: the module name without its first component."""
    return module.split(".", 1)[1] if "." in module else module


def portable_name(model):
    """The model's name for base_model_name_or_path, as srr export writes it: never a path of this machine
    (the last component of the path the trainer was given)."""
    return os.path.basename(os.path.normpath(model)) if model else ""


def read_adapter(adapter_dir, model, meta):
    """{module: (lora_A [r][in], lora_B [out][r], scaling)}, checked against the model and qpeft.json. Each
    module's rank and lora_alpha are PEFT's: rank_pattern/alpha_pattern of adapter_config.json where they name
    it, else r and lora_alpha; scaling = lora_alpha / rank. A layer of rank 0 in qpeft.json (a plan's) has no
    factors and stays Q. An adapter of another model (a module the model lacks, or other shapes) or of another
    rank is refused with the mismatch named."""
    adapter_dir = str(adapter_dir)
    cfg_path = os.path.join(adapter_dir, "adapter_config.json")
    cfg = read_json(cfg_path, "PEFT adapter config")
    if cfg.get("peft_type") != "LORA" or cfg.get("use_dora") or cfg.get("use_rslora") or cfg.get("fan_in_fan_out"):
        raise QpeftInputError(f"'{cfg_path}': only plain LoRA adapters are supported")
    r, alpha = cfg.get("r"), cfg.get("lora_alpha")
    if r != meta["r"] or alpha != meta["lora_alpha"]:
        raise QpeftInputError(f"'{cfg_path}' has r = {r}, lora_alpha = {alpha} but {QPEFT_FILE} says r = "
                              f"{meta['r']}, lora_alpha = {meta['lora_alpha']}: the adapter and the metadata "
                              "come from different exports")
    tensors, _ = safetensors.read(os.path.join(adapter_dir, "adapter_model.safetensors"))
    modules = set(model.module_names())
    order = {name: i for i, name in enumerate(model.module_names())}
    factors = {}
    for name in sorted(tensors):
        for suffix, slot in ((".lora_A.weight", 0), (".lora_B.weight", 1)):
            if name.startswith(PREFIX) and name.endswith(suffix):
                module = name[len(PREFIX):-len(suffix)]
                factors.setdefault(module, [None, None])[slot] = tensors[name].float()
                break
        else:
            raise QpeftInputError(f"'{adapter_dir}': tensor '{name}' is not a LoRA factor")
    out = {}  # in the model's module order, as srr writes adapters
    for module, (A, B) in sorted(factors.items(), key=lambda f: order.get(f[0], len(order))):
        if module not in modules:
            raise QpeftInputError(f"the adapter in '{adapter_dir}' targets '{module}', which the model does not have "
                                  "(an adapter of another model?)")
        if module not in meta["layers"]:
            raise QpeftInputError(f"'{adapter_dir}': {QPEFT_FILE} has no entry for {module}")
        W = model.linear(module).weight
        if A is None or B is None:
            raise QpeftInputError(f"'{adapter_dir}': module {module} has only one of lora_A and lora_B")
        rank = pattern_value(cfg.get("rank_pattern"), module, r)
        if rank != layer_rank(meta, module):
            raise QpeftInputError(f"'{cfg_path}' gives {module} the rank {rank} but {QPEFT_FILE} says "
                                  f"{layer_rank(meta, module)}: the adapter and the metadata come from different "
                                  "exports")
        if A.shape[0] != rank or B.shape[1] != rank:
            raise QpeftInputError(f"'{adapter_dir}': {module} has lora_A {list(A.shape)} and lora_B {list(B.shape)}, "
                                  f"not of rank r = {rank} (an adapter of another rank?)")
        if A.shape[1] != W.shape[1] or B.shape[0] != W.shape[0]:
            raise QpeftInputError(f"'{adapter_dir}': {module} maps {A.shape[1]} to {B.shape[0]} features but the "
                                  f"model's layer is {W.shape[0]}x{W.shape[1]} [out x in] (an adapter of another "
                                  "model?)")
        out[module] = (A, B, pattern_value(cfg.get("alpha_pattern"), module, alpha) / rank)
    missing = sorted(m for m in modules - set(out) if m not in meta["layers"] or layer_rank(meta, m) != 0)
    if missing:
        raise QpeftInputError(f"the adapter in '{adapter_dir}' has no factors for {missing[0]} "
                              f"({len(missing)} of the model's {len(modules)} linear layers)")
    return out


def peft_config(layers, r, lora_alpha, every_layer, base_model):
    """adapter_config.json as srr export writes it: the layers whose rank is not r in rank_pattern (and their
    lora_alpha, when it differs, in alpha_pattern); target_modules the projection names when every linear layer
    has factors (every_layer), else the names of those that have."""
    rank_pattern, alpha_pattern, targets = {}, {}, []
    for module, (A, _, scaling) in layers.items():
        rank = A.shape[0]
        target = module.rsplit(".", 1)[1] if every_layer else module
        if target not in targets:
            targets.append(target)
        if rank != r:
            rank_pattern[pattern_key(module)] = rank
            alpha = scaling * rank
            if abs(alpha - lora_alpha) > 1e-9 * lora_alpha:
                alpha_pattern[pattern_key(module)] = round(alpha) if abs(alpha - round(alpha)) < 1e-9 else alpha
    return {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": lora_alpha, "lora_dropout": 0.0,
            "target_modules": targets, "bias": "none", "fan_in_fan_out": False, "use_rslora": False,
            "use_dora": False, "init_lora_weights": True, "inference_mode": True, "modules_to_save": None,
            "layers_to_transform": None, "layers_pattern": None, "rank_pattern": rank_pattern,
            "alpha_pattern": alpha_pattern, "revision": None, "base_model_name_or_path": base_model}


def write_adapter(out_dir, layers, r, lora_alpha, meta, training):
    """A PEFT adapter directory that `srr eval --adapter` (and PEFT) reads from {module: (lora_A, lora_B,
    scaling)}: adapter_model.safetensors in the model's module order, adapter_config.json (per-layer ranks in
    rank_pattern, as srr export writes them), and qpeft.json with a `training` record. Written into <out>.partial
    and renamed, so a killed run leaves nothing under the final name."""
    out_dir = str(out_dir).rstrip("/")
    if os.path.exists(out_dir) and (not os.path.isdir(out_dir) or os.listdir(out_dir)):
        raise QpeftInputError(f"'{out_dir}' already exists and is not an empty directory; choose another --out")
    staging = out_dir + ".partial"
    os.makedirs(staging, exist_ok=True)
    tensors = {}
    for module, (A, B, _) in layers.items():
        tensors[PREFIX + module + ".lora_A.weight"] = A
        tensors[PREFIX + module + ".lora_B.weight"] = B
    safetensors.write(os.path.join(staging, "adapter_model.safetensors"), tensors, {"format": "pt"})
    every_layer = all(layer_rank(meta, name) > 0 for name in meta["layers"])
    config = peft_config(layers, r, lora_alpha, every_layer, portable_name(training.get("model", "")))
    meta = dict(meta, r=r, lora_alpha=lora_alpha, scaling=lora_alpha / r, training=training)
    for name, text in (("adapter_config.json", config), (QPEFT_FILE, meta)):
        with open(os.path.join(staging, name), "w", encoding="utf-8") as f:
            json.dump(text, f, indent=2)
            f.write("\n")
    if os.path.isdir(out_dir):
        os.rmdir(out_dir)
    os.replace(staging, out_dir)
