# SPDX-License-Identifier: MIT
"""QPEFT fine-tuning from srr's exports (docs/qpeft.md): safetensors I/O, the two tokenizers srr reads, a
Llama forward pass equal to srr's (src/model/forward.cpp), the QPEFT LoRA layer with the SRR release's
gradient scaling, and the PEFT adapter files `srr eval --adapter` scores.

Only the Python standard library and PyTorch (Debian's python3-torch) are used."""


class QpeftInputError(Exception):
    """Bad input (a file, a tensor, an option): the command line prints one line and exits with code 2."""
