#!/usr/bin/env bash
# Engine overhead vs DVC and Snakemake (issue 7): the same pipeline of N trivial stages for drift,
# DVC and Snakemake, each run once, then timed: the no-op check (`drift status` / `dvc status` /
# `snakemake -n`), the no-op rerun (`drift run` / `dvc repro` / `snakemake --cores 2`) and the
# rerun after changing one train parameter (one branch reruns). Prints a Markdown table.
#
# Usage: benches/peers.sh [--skip-peers | --skip dvc|snakemake]... [N ...]     (default N: 10 100 1000 10000)
#   --skip-peers     time drift only          --skip TOOL    leave out one peer
#   --no-wait        do not wait for a quiet machine before each timed block
# Environment: PEERS_MAX_FULL_S (default 300): a peer is skipped at an N where its first full run
#   is predicted to take longer (the larger of: a power law through its two smaller N measured in
#   this run, exponent at least 1; the reference run of shared/reference/peer-engines.md (d)
#   scaled linearly), and a peer's full run still going after twice that is killed and that N
#   skipped (Snakemake at N = 10000 grows much faster than linearly: a run of an earlier version
#   of this script that let it start had done 1672 of its 10002 jobs, 17%, after about 9.5
#   minutes, and was stopped by hand); PEERS_LOAD_MAX (1.0) and
#   PEERS_LOAD_WAIT_S (300): before each timed block wait up to that long for the 1-minute load
#   average to fall below PEERS_LOAD_MAX; PEERS_KEEP=1 keeps the temp dir.
#
# Shape (benches/peers_gen.py writes the pipelines): one data stage feeding K = N/2 independent
# "train" stages, each feeding one "eval" stage: 1 + N peer stages with trivial shell commands,
# the train seed in a parameter file. drift has no eval-after-train stage kind (an eval reads a
# sample stage), so its pipeline is 1 data + K x (train -> sample -> eval) = 1 + 3N/2 instances,
# more than the peers' 1 + N, which only disadvantages drift. The peers come from PyPI into a venv
# at target/peers-venv (versions pinned below); drift is target/release/drift, rebuilt with
# `cargo build --release --bin drift` when missing or older than the sources.
# Repeats: the first full run once; the others are run once, then to 5 runs in all when that run
# took under 2 s, 3 when under 60 s, else 1; the table gives medians. Peak RSS comes from
# `/usr/bin/time -v` (the first run of each no-op command, every full and change run).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

DVC_VERSION=3.67.1
SNAKEMAKE_VERSION=9.27.1
max_full_s=${PEERS_MAX_FULL_S:-300}
load_max=${PEERS_LOAD_MAX:-1.0}
load_wait_s=${PEERS_LOAD_WAIT_S:-300}
# Reference first full runs at N = 1000 (shared/reference/peer-engines.md (d), 2 shared cores).
declare -A ref_full_1000=([dvc]=1450 [snakemake]=37.7)

ns=()
tools=(drift snakemake dvc)
wait_quiet=1
while (($#)); do
  case $1 in
    --skip-peers) tools=(drift) ;;
    --skip) shift; tools=($(printf '%s\n' "${tools[@]}" | grep -vx -- "$1")) ;;
    --no-wait) wait_quiet=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *[!0-9]*|'') echo "unknown argument: $1" >&2; exit 2 ;;
    *) ns+=("$1") ;;
  esac
  shift
done
((${#ns[@]})) || ns=(10 100 1000 10000)
has_tool() { printf '%s\n' "${tools[@]}" | grep -qx -- "$1"; }

# --- tools ---------------------------------------------------------------------------------
if [[ ! -x /usr/bin/time ]]; then
  echo "installing Debian's time package for /usr/bin/time -v" >&2
  apt-get install -y -q time > /dev/null || { apt-get update -q > /dev/null && apt-get install -y -q time > /dev/null; }
fi

venv=$root/target/peers-venv
if has_tool dvc || has_tool snakemake; then
  if [[ "$("$venv/bin/dvc" --version 2>/dev/null)" != "$DVC_VERSION" ||
        "$("$venv/bin/snakemake" --version 2>/dev/null)" != "$SNAKEMAKE_VERSION" ]]; then
    echo "installing dvc==$DVC_VERSION snakemake==$SNAKEMAKE_VERSION into $venv" >&2
    [[ -x $venv/bin/pip ]] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q "dvc==$DVC_VERSION" "snakemake==$SNAKEMAKE_VERSION"
  fi
fi

drift=$root/target/release/drift
if [[ ! -x $drift ]] || [[ -n "$(find crates Cargo.toml Cargo.lock -newer "$drift" -type f -print -quit)" ]]; then
  echo "building $drift" >&2
  env -u CARGO_TARGET_DIR cargo build --release --bin drift
fi

export DVC_NO_ANALYTICS=1
work=$(mktemp -d "${TMPDIR:-/tmp}/drift-peers.XXXXXX")
cleanup() { if [[ ${PEERS_KEEP:-0} == 1 ]]; then echo "kept $work" >&2; else rm -rf "$work"; fi; }
trap cleanup EXIT
export DVC_SITE_CACHE_DIR=$work/dvc-site   # DVC's per-repo index caches (else under /var/tmp/dvc)

echo "# benches/peers.sh ${ns[*]}  ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r))"
echo "drift: $("$drift" --version) ($(stat -c %y "$drift" | cut -d. -f1))"
if has_tool dvc; then echo "dvc: $("$venv/bin/dvc" --version)"; fi
if has_tool snakemake; then echo "snakemake: $("$venv/bin/snakemake" --version)"; fi
echo "python: $("$venv/bin/python" --version 2>/dev/null || python3 --version)"

# --- helpers -------------------------------------------------------------------------------
load1() { cut -d' ' -f1 /proc/loadavg; }
wait_for_quiet() {
  ((wait_quiet)) || return 0
  local waited=0
  while awk -v l="$(load1)" -v m="$load_max" 'BEGIN { exit !(l >= m) }'; do
    if ((waited >= load_wait_s)); then
      echo "  load average still $(load1) after ${waited} s; measuring anyway" >&2
      return 0
    fi
    sleep 10
    waited=$((waited + 10))
  done
  ((waited == 0)) || echo "  waited ${waited} s for load $(load1) < $load_max" >&2
}
now_ns() { date +%s%N; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.4f", ns / 1e9 }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.4f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# run_wrapped LOG CMD...: run CMD under /usr/bin/time -v; sets T (s) and RSS (KiB). With LIMIT set
# (seconds), CMD is killed after that long and run_wrapped returns 124 instead of exiting.
run_wrapped() {
  local log=$1; shift
  local s e rc=0 pre=()
  [[ -n ${LIMIT:-} ]] && pre=(timeout -k 10 "$LIMIT")
  s=$(now_ns)
  /usr/bin/time -v -o "$log.time" "${pre[@]}" "$@" > "$log" 2>&1 || rc=$?
  e=$(now_ns)
  T=$(secs $((e - s)))
  if ((rc != 0)); then
    if [[ -n ${LIMIT:-} ]] && ((rc == 124 || rc == 137)); then return 124; fi
    echo "FAILED (exit $rc): $* (in $(pwd)); last lines of $log:" >&2
    tail -20 "$log" >&2
    exit 1
  fi
  RSS=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$log.time")
}
# run_plain CMD...: run CMD unwrapped; sets T (s).
run_plain() {
  local s e
  s=$(now_ns)
  "$@" > /dev/null 2>&1 || { echo "FAILED: $*" >&2; exit 1; }
  e=$(now_ns)
  T=$(secs $((e - s)))
}
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
repeats_for() { awk -v t="$1" 'BEGIN { print (t < 2) ? 5 : (t < 60) ? 3 : 1 }'; }

# time_noop NAME CMD...: the first run wrapped (RSS), then repeats; sets MED, MIN, RUNS, RSS.
time_noop() {
  local name=$1; shift
  local times=() first n i
  run_wrapped "$dir/$name.log" "$@"
  first=$T
  n=$(repeats_for "$first")
  if ((n == 5)); then
    for ((i = 0; i < 5; i++)); do run_plain "$@"; times+=("$T"); done   # first run = warm-up
  else
    times=("$first")
    for ((i = 1; i < n; i++)); do run_plain "$@"; times+=("$T"); done
  fi
  MED=$(median "${times[@]}")
  MIN=$(printf '%s\n' "${times[@]}" | sort -g | head -1)
  RUNS=${#times[@]}
  echo "  $name: ${times[*]} s (median $MED, first wrapped run $first s, max RSS ${RSS} KiB)" >&2
}

# --- per tool --------------------------------------------------------------------------------
# set_cmds: the commands of $tool, run in its pipeline directory (the no-op rerun and the change
# rerun are the full-run command again).
set_cmds() {
  case $tool in
    drift) run_cmd=("$drift" --cache cache run spec.toml); check_cmd=("$drift" --cache cache status spec.toml) ;;
    dvc) run_cmd=("$venv/bin/dvc" repro); check_cmd=("$venv/bin/dvc" status) ;;
    snakemake) run_cmd=("$venv/bin/snakemake" --cores 2); check_cmd=("$venv/bin/snakemake" -n) ;;
  esac
}

setup_pipeline() {
  python3 "$root/benches/peers_gen.py" pipeline "$tool" "$n" "$dir"
  if [[ $tool == dvc ]]; then
    (cd "$dir" && "$venv/bin/dvc" init --no-scm -q &&
      "$venv/bin/dvc" config core.check_update false)
  fi
}
summary() { grep -E '^[0-9]+ instances:' "$1" | tail -1 || true; }   # drift's summary line
# check_change VALUE LOG: the changed branch really recomputed (and nothing else did, for drift).
check_change() {
  local v=$1 log=$2 k=$((n / 2))
  case $tool in
    drift)
      # summary line of `drift run`: the changed branch (train, sample, eval) executed, no more
      summary "$log" | grep -q " 3 executed, $((1 + 3 * k - 3)) cached, 0 failed" ||
        { echo "expected 3 executed instances; drift printed: $(summary "$log")" >&2; exit 1; } ;;
    *)
      [[ "$(cat "$dir/models/t$((k - 1)).txt")" == "$v" && "$(cat "$dir/evals/e$((k - 1)).txt")" == "$v" ]] ||
        { echo "change did not propagate for $tool N=$n" >&2; exit 1; } ;;
  esac
}

# predict_full: sets EST (s, the larger of the estimates below, empty when none) and EST_WHY for
# the first full run of $tool at $n.
predict_full() {
  EST=""; EST_WHY=""
  if [[ -n ${ref_full_1000[$tool]:-} ]]; then
    EST=$(awk -v r="${ref_full_1000[$tool]}" -v n="$n" 'BEGIN { printf "%.0f", r * n / 1000 }')
    EST_WHY="the reference run took ${ref_full_1000[$tool]} s at N=1000, linear scaling gives $EST s"
  fi
  local a=${last_n[$tool]:-}
  if [[ -n $a ]]; then
    local fa=${last_full[$tool]} b=${prev_n[$tool]:-} fb=${prev_full[$tool]:-} e
    e=$(awk -v n="$n" -v a="$a" -v fa="$fa" -v b="$b" -v fb="$fb" 'BEGIN {
      k = 1; if (b != "" && fb > 0 && fa > 0 && a != b) { k = log(fa / fb) / log(a / b); if (k < 1) k = 1 }
      printf "%.0f %.2f", fa * (n / a) ^ k, k }')
    EST_WHY+="${EST_WHY:+; }this run: $fa s at N=$a, growth exponent ${e#* } gives ${e% *} s"
    if [[ -z $EST ]] || ((${e% *} > EST)); then EST=${e% *}; fi
  fi
}

declare -A last_n last_full prev_n prev_full
rows=()
skipped=()
declare -A res_check res_full res_rerun res_change
for n in "${ns[@]}"; do
  k=$((n / 2))
  for tool in "${tools[@]}"; do
    if [[ $tool != drift ]]; then
      predict_full
      if [[ -n $EST ]] && ((EST > max_full_s)); then
        why="$tool at N=$n skipped: first full run predicted to take about $EST s > PEERS_MAX_FULL_S=$max_full_s ($EST_WHY)"
        echo "$why" >&2
        skipped+=("$why")
        continue
      fi
    fi
    dir=$work/$tool-$n
    setup_pipeline
    set_cmds
    cd "$dir"
    stages=$((1 + n)); [[ $tool == drift ]] && stages=$((1 + 3 * k))
    echo "== $tool N=$n ($stages stages) ==" >&2
    wait_for_quiet
    load_start=$(load1)

    LIMIT=""; [[ $tool != drift ]] && LIMIT=$((2 * max_full_s))
    if ! run_wrapped "$dir/full.log" "${run_cmd[@]}"; then
      why="$tool at N=$n skipped: its first full run was killed after $LIMIT s (2 x PEERS_MAX_FULL_S); last progress: $(grep -E 'steps \(|Running stage' "$dir/full.log" | tail -1)"
      echo "$why" >&2
      skipped+=("$why")
      LIMIT=""; cd "$root"; rm -rf "$dir"
      continue
    fi
    LIMIT=""
    full=$T; full_rss=$RSS
    echo "  first full run: $full s (max RSS $full_rss KiB)" >&2
    if [[ $tool == drift ]]; then summary "$dir/full.log" | sed 's/^/  /' >&2; fi

    time_noop check "${check_cmd[@]}"
    check=$MED; check_min=$MIN; check_runs=$RUNS; check_rss=$RSS
    if [[ $tool == drift ]] && ! summary "$dir/check.log" | grep -q ": $stages fresh, 0 stale, 0 failed"; then
      echo "drift status did not report every instance fresh: $(summary "$dir/check.log")" >&2; exit 1
    fi
    time_noop rerun "${run_cmd[@]}"
    rerun=$MED; rerun_runs=$RUNS; rerun_rss=$RSS
    if [[ $tool == drift ]] && ! summary "$dir/rerun.log" | grep -q " 0 executed, $stages cached"; then
      echo "the no-op drift run executed something: $(summary "$dir/rerun.log")" >&2; exit 1
    fi

    # one parameter changed: the last train stage's seed gets a value never used before, so that
    # every repeat recomputes (no tool may restore it from a cache of earlier runs)
    times=(); change_rss=0; reps=1
    for ((r = 0; r < reps; r++)); do
      v=$((1000000 + r))
      python3 "$root/benches/peers_gen.py" params "$tool" "$n" "$dir" "$v"
      run_wrapped "$dir/change.log" "${run_cmd[@]}"
      check_change "$v" "$dir/change.log"
      times+=("$T"); ((RSS > change_rss)) && change_rss=$RSS
      ((r == 0)) && reps=$(repeats_for "$T")
    done
    change=$(median "${times[@]}")
    echo "  one parameter changed: ${times[*]} s (median $change)" >&2
    [[ $tool == drift ]] && summary "$dir/change.log" | sed 's/^/  /' >&2
    load_end=$(load1)

    rows+=("| $tool | $n | $stages | $(printf %.2f "$full") | $check ($check_runs; best $check_min) | $rerun ($rerun_runs) | $change (${#times[@]}) | $(mib "$full_rss") / $(mib "$check_rss") / $(mib "$rerun_rss") / $(mib "$change_rss") | $load_start → $load_end |")
    res_full[$tool,$n]=$full; res_check[$tool,$n]=$check; res_rerun[$tool,$n]=$rerun; res_change[$tool,$n]=$change
    prev_n[$tool]=${last_n[$tool]:-}; prev_full[$tool]=${last_full[$tool]:-}
    last_n[$tool]=$n; last_full[$tool]=$full
    cd "$root"
    rm -rf "$dir"
  done
done

# --- report ----------------------------------------------------------------------------------
echo
echo "Times in seconds: median (number of runs); the no-op check also gives its best run."
echo "Stages: the peers run 1 + N; drift runs 1 + 3N/2 instances (train -> sample -> eval)."
echo
echo "| tool | N | stages | full run | no-op check | no-op rerun | 1 param changed | peak RSS MiB (full / check / rerun / change) | load avg 1 min (start → end) |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "Ratios: the faster peer's median time / drift's (the faster peer: lower no-op check at that N)."
echo
echo "| N | faster peer | full run | no-op check | no-op rerun | 1 param changed |"
echo "|---|---|---|---|---|---|"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { r = a / b; printf (r < 10) ? "%.1fx" : "%.0fx", r }'; }
for n in "${ns[@]}"; do
  [[ -n ${res_check[drift,$n]:-} ]] || continue
  best=""
  for p in snakemake dvc; do
    [[ -n ${res_check[$p,$n]:-} ]] || continue
    if [[ -z $best ]] || awk -v a="${res_check[$p,$n]}" -v b="${res_check[$best,$n]}" 'BEGIN { exit !(a < b) }'; then best=$p; fi
  done
  if [[ -z $best ]]; then echo "| $n | (none measured) | | | | |"; continue; fi
  echo "| $n | $best | $(ratio "${res_full[$best,$n]}" "${res_full[drift,$n]}") | $(ratio "${res_check[$best,$n]}" "${res_check[drift,$n]}") | $(ratio "${res_rerun[$best,$n]}" "${res_rerun[drift,$n]}") | $(ratio "${res_change[$best,$n]}" "${res_change[drift,$n]}") |"
done
echo
if ((${#skipped[@]})); then
  echo "Skipped:"
  printf -- '- %s\n' "${skipped[@]}"
  echo
fi
echo "Targets (issue 7):"
[[ -n ${res_check[drift,1000]:-}${res_check[drift,10000]:-} ]] || echo "- (drift was not run at N=1000 or N=10000)"
if [[ -n ${res_check[drift,1000]:-} ]]; then
  c=${res_check[drift,1000]}
  verdict=$(awk -v c="$c" 'BEGIN { print (c < 0.05) ? "met" : "MISSED" }')
  echo "- drift no-op check at N=1000 < 50 ms: $verdict ($(awk -v c="$c" 'BEGIN { printf "%.1f", c * 1000 }') ms median)"
  for p in snakemake dvc; do
    if [[ -n ${res_check[$p,1000]:-} ]]; then
      x=$(awk -v a="${res_check[$p,1000]}" -v b="$c" 'BEGIN { printf "%.0f", a / b }')
      echo "- >= 20x faster than $p at N=1000: $( ((x >= 20)) && echo met || echo MISSED) (${x}x)"
    fi
  done
fi
if [[ -n ${res_check[drift,10000]:-} ]]; then
  c=${res_check[drift,10000]}
  echo "- drift no-op check at N=10000 < 0.5 s: $(awk -v c="$c" 'BEGIN { print (c < 0.5) ? "met" : "MISSED" }') ($c s median)"
fi
