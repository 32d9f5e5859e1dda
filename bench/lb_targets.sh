# Sourced by bench/lb.sh and bench/lb_cost.sh: the two upstream targets both of them proxy to.
#
# start_targets THREADS: starts "$upstream_binary" as targets a and b (each on a port the kernel
# picks, with THREADS threads), logging under "$workdir" and adding both to the caller's `pids`;
# waits until both listen (bounded, else the caller's `die`) and sets target_a and target_b to
# their ports.
start_targets() {
    local threads=$1 name
    for name in a b; do
        "$upstream_binary" 0 "$name" "$threads" >"$workdir/upstream-$name.out" 2>"$workdir/upstream-$name.log" & pids+=($!)
    done
    for name in a b; do
        for _ in $(seq 100); do grep -q '^listening' "$workdir/upstream-$name.out" && break; sleep 0.1; done
        grep -q '^listening' "$workdir/upstream-$name.out" || die "upstream $name did not start (see $workdir/upstream-$name.log)"
    done
    target_a=$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$workdir/upstream-a.out")
    target_b=$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$workdir/upstream-b.out")
}
