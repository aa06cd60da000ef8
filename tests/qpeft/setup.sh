#!/usr/bin/env bash
# Fixture of the qpeft tests: real exports of stories260K (and one of TinyStories-656K) in $QPEFT_FIXTURE.
set -euo pipefail
: "${SRR_EXE:?}" "${SRR_DATA_DIR:?}" "${QPEFT_FIXTURE:?}"
rm -rf "$QPEFT_FIXTURE"
mkdir -p "$QPEFT_FIXTURE"
cd "$QPEFT_FIXTURE"
S="$SRR_DATA_DIR/stories260K/stories260K.bin"
T="$SRR_DATA_DIR/tinystories/tinystories_val_head.txt"
"$SRR_EXE" calibrate --model "$S" --text "$T" --max-chars 120000 --ctx 128 --windows 8 --out calib.h5 --json
"$SRR_EXE" quantize --model "$S" --calib calib.h5 --out srr.h5 --method srr --scale qera-exact --bits 2 --block 16 --rank 8
"$SRR_EXE" export --store srr.h5 --model "$S" --out release --peft-convention release --json
"$SRR_EXE" export --store srr.h5 --model "$S" --out plain --json
"$SRR_EXE" quantize --model "$S" --calib calib.h5 --out rank4.h5 --method qer --scale qera-exact --bits 2 --block 16 --rank 4
"$SRR_EXE" export --store rank4.h5 --model "$S" --out rank4 --peft-convention release --json
"$SRR_EXE" quantize --model "$S" --out wonly.h5 --method w-only --scale identity --bits 2 --block 16 --rank 0
"$SRR_EXE" export --store wonly.h5 --model "$S" --out wonly --json
"$SRR_EXE" quantize --model "$SRR_DATA_DIR/tinystories-656k" --out ts.h5 --method qer --scale identity --bits 2 --block 16 --rank 8
"$SRR_EXE" export --store ts.h5 --model "$SRR_DATA_DIR/tinystories-656k" --out ts656k --peft-convention release --json
# A store made with a plan (per-layer bits and ranks, some 0): its export carries rank_pattern/alpha_pattern.
python3 -c '
names = [f"model.layers.{l}.{p}" for l in range(5) for p in ("self_attn.q_proj", "self_attn.k_proj",
         "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")]
print("layer\tbits\trank")
for i, n in enumerate(names): print(f"{n}\t{2 + i % 2}\t{(0, 4, 8)[i % 3]}")' > plan.tsv
"$SRR_EXE" quantize --model "$S" --calib calib.h5 --out planned.h5 --method srr --scale qera-exact --block 16 --plan plan.tsv
"$SRR_EXE" export --store planned.h5 --model "$S" --out planned --peft-convention release --json
