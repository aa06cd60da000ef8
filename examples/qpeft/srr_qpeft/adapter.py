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
        if layer.get("r", meta["r"]) != meta["r"]:
            raise QpeftInputError(f"'{path}': layer {name} has rank {layer['r']}, not r = {meta['r']}: an export "
                                  "of a store made with a plan (per-layer ranks), which this client does not "
                                  "support yet")
        k = layer.get("freeze_rank")
        if not isinstance(k, int) or not 0 <= k <= meta["r"] or len(layer.get("s_vals", [])) not in (0, meta["r"]):
            raise QpeftInputError(f"'{path}': layer {name} has freeze_rank {k} and {len(layer.get('s_vals', []))} "
                                  f"s_vals for r = {meta['r']}")
    return meta


def portable_name(model):
    """The model's name for base_model_name_or_path, as srr export writes it: never a path of this machine
    (the last component of the path the trainer was given)."""
    return os.path.basename(os.path.normpath(model)) if model else ""


def read_adapter(adapter_dir, model, meta):
    """{module: (lora_A [r][in], lora_B [out][r])} and the PEFT scaling, checked against the model and qpeft.json:
    an adapter of another model (a module the model lacks, or other shapes) or of another rank is refused with
    the mismatch named."""
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
    factors = {}
    for name in sorted(tensors):
        for suffix, slot in ((".lora_A.weight", 0), (".lora_B.weight", 1)):
            if name.startswith(PREFIX) and name.endswith(suffix):
                module = name[len(PREFIX):-len(suffix)]
                factors.setdefault(module, [None, None])[slot] = tensors[name].float()
                break
        else:
            raise QpeftInputError(f"'{adapter_dir}': tensor '{name}' is not a LoRA factor")
    for module, (A, B) in factors.items():
        if module not in modules:
            raise QpeftInputError(f"the adapter in '{adapter_dir}' targets '{module}', which the model does not have "
                                  "(an adapter of another model?)")
        W = model.linear(module).weight
        if A is None or B is None:
            raise QpeftInputError(f"'{adapter_dir}': module {module} has only one of lora_A and lora_B")
        if A.shape[0] != r or B.shape[1] != r:
            raise QpeftInputError(f"'{adapter_dir}': {module} has lora_A {list(A.shape)} and lora_B {list(B.shape)}, "
                                  f"not of rank r = {r} (an adapter of another rank?)")
        if A.shape[1] != W.shape[1] or B.shape[0] != W.shape[0]:
            raise QpeftInputError(f"'{adapter_dir}': {module} maps {A.shape[1]} to {B.shape[0]} features but the "
                                  f"model's layer is {W.shape[0]}x{W.shape[1]} [out x in] (an adapter of another "
                                  "model?)")
        if module not in meta["layers"]:
            raise QpeftInputError(f"'{adapter_dir}': {QPEFT_FILE} has no entry for {module}")
    missing = modules - set(factors)
    if missing:
        raise QpeftInputError(f"the adapter in '{adapter_dir}' has no factors for {sorted(missing)[0]} "
                              f"({len(missing)} of the model's {len(modules)} linear layers)")
    return factors, alpha / r


def write_adapter(out_dir, layers, r, lora_alpha, meta, training):
    """A PEFT adapter directory that `srr eval --adapter` (and PEFT) reads: adapter_model.safetensors in the
    model's module order, adapter_config.json, and qpeft.json with a `training` record. Written into
    <out>.partial and renamed, so a killed run leaves nothing under the final name."""
    out_dir = str(out_dir).rstrip("/")
    if os.path.exists(out_dir) and (not os.path.isdir(out_dir) or os.listdir(out_dir)):
        raise QpeftInputError(f"'{out_dir}' already exists and is not an empty directory; choose another --out")
    staging = out_dir + ".partial"
    os.makedirs(staging, exist_ok=True)
    tensors = {}
    for module, (A, B) in layers.items():
        tensors[PREFIX + module + ".lora_A.weight"] = A
        tensors[PREFIX + module + ".lora_B.weight"] = B
    safetensors.write(os.path.join(staging, "adapter_model.safetensors"), tensors, {"format": "pt"})
    targets = []
    for module in layers:
        proj = module.rsplit(".", 1)[1]
        if proj not in targets:
            targets.append(proj)
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": lora_alpha, "lora_dropout": 0.0,
              "target_modules": targets, "bias": "none", "fan_in_fan_out": False, "use_rslora": False,
              "use_dora": False, "init_lora_weights": True, "inference_mode": True, "modules_to_save": None,
              "layers_to_transform": None, "layers_pattern": None, "rank_pattern": {}, "alpha_pattern": {},
              "revision": None, "base_model_name_or_path": portable_name(training.get("model", ""))}
    meta = dict(meta, r=r, lora_alpha=lora_alpha, scaling=lora_alpha / r, training=training)
    for name, text in (("adapter_config.json", config), (QPEFT_FILE, meta)):
        with open(os.path.join(staging, name), "w", encoding="utf-8") as f:
            json.dump(text, f, indent=2)
            f.write("\n")
    if os.path.isdir(out_dir):
        os.rmdir(out_dir)
    os.replace(staging, out_dir)
