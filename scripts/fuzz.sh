#!/usr/bin/env bash
# Fuzzes the parsers of the request view (crates/moat-request) with
# cargo-fuzz: every target in fuzz/fuzz_targets/ for FUZZ_SECONDS each.
#
# Usage, from anywhere in the repository:
#   bash scripts/fuzz.sh                          # every target, 10 s each
#   FUZZ_SECONDS=60 bash scripts/fuzz.sh          # longer
#   FUZZ_TARGETS="json multipart" bash scripts/fuzz.sh
#   FUZZ_KEEP=1 bash scripts/fuzz.sh              # merge new inputs into fuzz/corpus
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

seconds="${FUZZ_SECONDS:-10}"
keep="${FUZZ_KEEP:-0}"
toolchain="${FUZZ_TOOLCHAIN:-nightly}"

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

# One build for every target; each run below then finds it fresh.
cargo "+${toolchain}" fuzz build

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
    cargo "+${toolchain}" fuzz run "${t}" "${corpus}" -- \
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
        cargo "+${toolchain}" fuzz run "${t}" "fuzz/corpus/${t}" "${corpus}" -- -merge=1 \
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
