#!/usr/bin/env bash
# Fuzzes moat's parsers with cargo-fuzz: every target in fuzz/fuzz_targets/
# (the request view, the config and OpenAPI loaders, request matching, JWTs
# and JWKs, introspection answers, GraphQL and XML bodies, the inspection
# engine, discovery's HAR and log readers), one after the other.
#
# Usage, from anywhere in the repository:
#   bash scripts/fuzz.sh                          # every target, 10 s each
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh         # 10 minutes each
#   FUZZ_BUDGET=120 bash scripts/fuzz.sh          # 120 s in all, split evenly
#   FUZZ_TARGETS="json multipart" bash scripts/fuzz.sh
#   FUZZ_KEEP=1 bash scripts/fuzz.sh              # merge new inputs into fuzz/corpus
#   FUZZ_FLAGS="--dev -s none" bash scripts/fuzz.sh   # cargo fuzz build/run options
#
# Time: FUZZ_SECONDS is the time of each target; without it, FUZZ_BUDGET is
# the fuzzing time of the whole run, split evenly across the targets run
# (at least FUZZ_MIN_SECONDS, default 3, each), which keeps a run's length
# fixed as targets are added (CI uses it: see scripts/test.sh); with
# neither, each target runs 10 s. Building and starting each target come on
# top (about a second per target once built).
#
# FUZZ_FLAGS are passed to `cargo fuzz build` and `cargo fuzz run`. The
# default is cargo-fuzz's: optimised, with debug assertions and
# AddressSanitizer, for long runs. The test command's short run uses
# "--dev -s none": unoptimised (overflow checks on) and without the
# sanitizer, which builds in half the time on 2 cores; its seconds go to
# replaying the kept corpus more than to finding new inputs, and moat's
# code has no `unsafe` for the sanitizer to watch.
#
# Each target runs over a copy of its kept corpus (fuzz/corpus/<target>) in a
# temporary folder, so a run does not grow the repository; with FUZZ_KEEP=1
# the inputs that add coverage are merged back into fuzz/corpus/<target>.
#
# Needs the nightly toolchain (`rustup toolchain list` must show one) and
# cargo-fuzz, which is installed when missing. Exits non-zero when a target
# crashes or breaks one of its properties, printing the input that did it
# (under fuzz/artifacts/<target>/); reproduce one with
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

budget="${FUZZ_BUDGET:-}"
min_seconds="${FUZZ_MIN_SECONDS:-3}"
keep="${FUZZ_KEEP:-0}"
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
read -r -a flags <<<"${FUZZ_FLAGS:-}"

if ! rustup toolchain list | grep -q "^${toolchain}"; then
    echo "fuzz.sh: the ${toolchain} toolchain is not installed (rustup toolchain install ${toolchain})" >&2
    exit 2
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

all_targets="$(cargo "+${toolchain}" fuzz list)"
targets="${FUZZ_TARGETS:-${all_targets}}"
for t in ${targets}; do
    if ! grep -qx "${t}" <<<"${all_targets}"; then
        echo "fuzz.sh: no fuzz target ${t} (there are: $(echo ${all_targets}))" >&2
        exit 2
    fi
done

for n in "${FUZZ_SECONDS-1}" "${budget:-1}" "${min_seconds}"; do
    if ! [[ "${n}" =~ ^[1-9][0-9]*$ ]]; then
        echo "fuzz.sh: FUZZ_SECONDS, FUZZ_BUDGET and FUZZ_MIN_SECONDS are whole seconds above 0, not '${n}'" >&2
        exit 2
    fi
done
count="$(wc -w <<<"${targets}")"
if [ -n "${FUZZ_SECONDS:-}" ]; then
    seconds="${FUZZ_SECONDS}"
elif [ -n "${budget}" ]; then
    seconds=$(( budget / count ))
    if [ "${seconds}" -lt "${min_seconds}" ]; then
        seconds="${min_seconds}"
    fi
else
    seconds=10
fi
echo "fuzz.sh: ${count} targets, ${seconds} s each" >&2

# One build for every target; each run below then finds it fresh.
cargo "+${toolchain}" fuzz build "${flags[@]}"

work="$(mktemp -d "${TMPDIR:-/tmp}/moat-fuzz.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

failed=()
summary=()
for t in ${targets}; do
    corpus="${work}/corpus/${t}"
    mkdir -p "${corpus}" "fuzz/corpus/${t}"
    cp -R "fuzz/corpus/${t}/." "${corpus}/"
    log="${work}/${t}.log"
    echo "fuzz.sh: ${t} for ${seconds} s" >&2
    status=0
    cargo "+${toolchain}" fuzz run "${flags[@]}" "${t}" "${corpus}" -- \
        -max_total_time="${seconds}" -timeout=10 -print_final_stats=1 \
        >"${log}" 2>&1 || status=$?
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "${log}" | tail -1)"
    took="$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "${log}" | tail -1)"
    if [ "${status}" -ne 0 ]; then
        # The panic message or sanitizer report, else the end of the log.
        grep -m1 -A8 -E 'panicked at|==[0-9]+==ERROR|ERROR: libFuzzer' "${log}" >&2 \
            || tail -n 40 "${log}" >&2
        artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "${log}" | tail -1)"
        echo "fuzz.sh: ${t} FAILED (exit ${status}); input: ${artifact:-none written, see the log above}" >&2
        failed+=("${t}")
        summary+=("${t}: FAILED after ${runs:-?} runs; ${artifact:-no input written}")
        continue
    fi
    summary+=("${t}: ${runs:-?} runs in ${took:-?} s, corpus $(ls "${corpus}" | wc -l) inputs")
    if [ "${keep}" = 1 ]; then
        before="$(ls "fuzz/corpus/${t}" | wc -l)"
        cargo "+${toolchain}" fuzz run "${flags[@]}" "${t}" "fuzz/corpus/${t}" "${corpus}" -- -merge=1 \
            >"${work}/${t}.merge.log" 2>&1 \
            || { tail -n 20 "${work}/${t}.merge.log" >&2; failed+=("${t} (merge)"); }
        echo "fuzz.sh: ${t}: fuzz/corpus/${t} has $(ls "fuzz/corpus/${t}" | wc -l) inputs (was ${before})" >&2
    fi
done

echo "fuzz.sh: summary (${seconds} s per target)"
printf '  %s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzz.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
