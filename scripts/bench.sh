#!/usr/bin/env bash
# Runs podflow's benchmarks and writes docs/benchmarks.md: each figure next
# to its ovs-ofctl reference measured in the same run, on the same sandboxed
# bridge, and the machine it ran on. Needs root and Open vSwitch (like
# scripts/test.sh; the sandboxes live in namespaces the benchmarks create).
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/benchmarks.md
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

echo "building (release) ..."
cargo build --release --bins --examples --quiet
cargo build --release -p podflow-proto --examples --quiet

run() { # name, command...
    local name=$1; shift
    echo "running $name: $*"
    "$@" >"$logs/$name.txt" 2>"$logs/$name.err" || { echo "$name failed:"; cat "$logs/$name.err"; exit 1; }
}
run codec cargo run --quiet --release -p podflow-proto --example codec_bench
run bundle cargo run --quiet --release --example bundle_bench
run add_flows cargo run --quiet --release --example add_flows_bench
run agent cargo run --quiet --release --example agent_bench
run ovsdb cargo test --quiet --release --test ovsdb_bench -- --ignored --nocapture

# first match of regex $2 in log $1, printing capture group 1
pick() { sed -nE "s/$2/\1/p" "$logs/$1.txt" | head -n1; }

cpu=$(sed -nE 's/^model name\s*:\s*(.*)/\1/p' /proc/cpuinfo | head -n1)
ovs=$(ovs-vswitchd --version | head -n1)
{
echo "# Benchmarks"
echo
echo "Written by \`scripts/bench.sh\` on $(date -u +%Y-%m-%dT%H:%MZ). Every podflow figure"
echo "stands next to its \`ovs-ofctl\` reference measured in the same run, against"
echo "the same private userspace Open vSwitch (ratio < 1: podflow is faster)."
echo
echo "| machine | |"
echo "|---|---|"
echo "| cores (nproc) | $(nproc) |"
echo "| CPU | ${cpu:-unknown} |"
echo "| kernel | $(uname -sr) |"
echo "| Open vSwitch | $ovs |"
echo "| podflow | $(git rev-parse --short HEAD 2>/dev/null || echo unknown) |"
echo
echo "## Agent: restore after an ovs-vswitchd restart (\`agent_bench\`)"
echo
echo "| what | podflow | ovs-ofctl -O OpenFlow15 | ratio |"
echo "|---|---|---|---|"
echo "| $(pick agent '^(restore with [0-9]+ pods \([0-9]+ flows).*')): vswitchd accepting → flow-restore-wait removed, vs \`--bundle add-flows\` of the same flows | $(pick agent '^ *podflow agent: .* ([0-9.]+ s)$') | $(pick agent '^ *ovs-ofctl -O OpenFlow15 --bundle add-flows \(same flows\) *([0-9.]+ s).*') | $(pick agent '^ *ovs-ofctl .*ratio podflow\/ovs-ofctl = ([0-9.]+).*') |"
echo "| podflow's session alone, pre-encoded, one bundle | $(pick agent '^ *podflow session alone.* ([0-9.]+ s) .*') | (same) | $(pick agent '^ *podflow session alone.*ratio session\/ovs-ofctl = ([0-9.]+).*') |"
echo
echo "- $(pick agent '^(agent start to ready.*)')"
echo "- $(pick agent '^(agent resident memory.*)')"
echo "- $(pick agent '^(CNI ADD latency.*)')"
echo
echo "## Command line: whole processes, 60,011 flows (\`add_flows_bench\`)"
echo
echo "| what | podflow | ovs-ofctl -O OpenFlow15 | ratio |"
echo "|---|---|---|---|"
echo "| \`add-flows\` (one atomic bundle) vs \`--bundle add-flows\` | $(pick add_flows '^median podflow add-flows: *([0-9.]+ s).*') | $(pick add_flows '^median ovs-ofctl --bundle add-flows: *([0-9.]+ s).*') | $(pick add_flows '^ratio podflow \/ ovs-ofctl: *([0-9.]+).*') |"
echo "| \`dump-flows\` | $(pick add_flows '^median podflow dump-flows: ([0-9.]+ s);.*') | $(pick add_flows '^median podflow dump-flows: .*ovs-ofctl dump-flows: ([0-9.]+ s);.*') | $(pick add_flows '^median podflow dump-flows: .*ratio ([0-9.]+).*') |"
for cmd in diff-flows replace-flows; do
echo "| \`$cmd\` of an unchanged table (one run) | $(pick add_flows "^$cmd of .*: podflow ([0-9.]+ s).*") | $(pick add_flows "^$cmd of .*ovs-ofctl ([0-9.]+ s).*") | |"
done
echo
echo "## Library: one session, 60,000 flows (\`bundle_bench\`)"
echo
echo "| what | podflow | ovs-ofctl -O OpenFlow15 | ratio |"
echo "|---|---|---|---|"
echo "| \`Session::bundle\` (in process) vs \`--bundle add-flows\` (whole process) | $(pick bundle '^median podflow bundle\(\): *([0-9.]+ s).*') | $(pick bundle '^median ovs-ofctl --bundle add-flows: *([0-9.]+ s).*') | $(pick bundle '^ratio podflow \/ ovs-ofctl: *([0-9.]+).*') |"
echo "| \`Session::dump_flows\` | $(pick bundle '^median podflow dump_flows \([0-9]+\): *([0-9.]+ s).*') | (see \`dump-flows\` above) | |"
echo
echo "## Codec, no I/O (\`codec_bench\`)"
echo
echo "| what | podflow | reference |"
echo "|---|---|---|"
echo "| encode a pod FLOW_MOD | $(pick codec '^encode: (.*)') | none: ovs-ofctl has no in-process codec to time |"
echo "| decode the same | $(pick codec '^decode: (.*)') | |"
echo
echo "## OVSDB, 10,000 ports (\`ovsdb_bench\`, ovs-vswitchd stopped)"
echo
echo "No ovs-ofctl reference: OVSDB is measured against ovsdb-server itself."
echo
sed -nE 's/^BENCH ovsdb: (.*)/- \1/p' "$logs/ovsdb.txt"
echo
echo "## Raw output"
for n in agent add_flows bundle codec ovsdb; do
    echo
    echo "\`$n\`:"
    echo
    echo '```text'
    grep -v '^$' "$logs/$n.txt" | tail -n 40 | grep -vE '^(running [0-9]+ test|test result|test .* ok$|\.+$)' || true
    echo '```'
done
} >"$out"
echo "wrote $out"
