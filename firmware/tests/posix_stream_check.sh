#!/bin/sh
# Feeds the adversarial stream to the sanitizer build of ebdut-posix (--stdio) for every model
# in both modes; checks one m-ready per '%' (+1 at boot), the m-infer-done count, no crash, and
# in energy mode one falling edge at boot plus two per inference on the events side channel.
set -eu
dut="$1"
make_stream="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
status=0
for spec in kws01:490:490 vww01:27648:27648 ic01:3072:3072 ad01:2560:5120; do
    model="${spec%%:*}"
    sizes="${spec#*:}"
    input="${sizes%%:*}"
    capacity="${sizes#*:}"
    "$make_stream" "$input" "$capacity" >"$work/stream" 2>"$work/expect"
    percents="$(sed -n 's/^percents=\([0-9]*\) .*/\1/p' "$work/expect")"
    infers="$(sed -n 's/.* infers=\([0-9]*\)$/\1/p' "$work/expect")"
    for mode in performance energy; do
        if ! timeout 120 "$dut" --stdio --mode "$mode" --model "$model" --hold-us 20 \
            --events "$work/events" <"$work/stream" >"$work/out" 2>"$work/err"; then
            echo "posix_stream_check: $model $mode: ebdut-posix failed:" >&2
            cat "$work/err" >&2
            status=1
            continue
        fi
        ready="$(grep -c '^m-ready' "$work/out" || true)"
        done_count="$(grep -c '^m-infer-done' "$work/out" || true)"
        errors="$(grep -c '^e-\[' "$work/out" || true)"
        falls="$(grep -c '^ts_fall ' "$work/events" || true)"
        want_falls=0
        if [ "$mode" = energy ]; then want_falls=$((1 + 2 * infers)); fi
        if [ "$ready" -ne $((percents + 1)) ] || [ "$done_count" -ne "$infers" ] ||
            [ "$errors" -lt 10 ] || [ "$falls" -ne "$want_falls" ]; then
            echo "posix_stream_check: $model $mode: m-ready $ready (want $((percents + 1))),"\
                "m-infer-done $done_count (want $infers), e- lines $errors,"\
                "ts_fall $falls (want $want_falls)" >&2
            status=1
        fi
    done
done
[ "$status" -eq 0 ] && echo "posix_stream_check: 4 models x 2 modes OK"
exit "$status"
