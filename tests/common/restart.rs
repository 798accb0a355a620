//! What a switch restart must preserve, checked the same way wherever the
//! switch runs (a sandboxed `ovs-vswitchd` in tests/restart.rs, the OVS
//! container in tests/containers.rs), and the flow-table form both compare.
#![allow(dead_code)]

use podflow::demo::GRACE;
use podflow::probe::ProbeReport;

/// What one restart produced.
pub struct Outcome {
    /// Unix ns when the independent monitor saw the key disappear.
    pub removed_ns: u64,
    /// Unix ns of each pod's acknowledgement in the new round.
    pub acks_ns: Vec<u64>,
    /// ARP probes (IPv4).
    pub probes: ProbeReport,
    /// ND probes (IPv6), when the pods have IPv6 addresses.
    pub nd_probes: Option<ProbeReport>,
    pub before: Vec<String>,
    pub after: Vec<String>,
    /// The agent's warnings and errors, for a failure's message.
    pub warnings: String,
}

impl Outcome {
    /// Every violation, in words.
    pub fn violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        let last_ack = self.acks_ns.iter().copied().max().unwrap_or(0);
        if self.removed_ns <= last_ack {
            v.push(format!("flow-restore-wait was removed {} µs before the last pod acknowledgement", (last_ack - self.removed_ns) / 1000));
        }
        for (kind, r) in std::iter::once(("ARP", &self.probes)).chain(self.nd_probes.iter().map(|r| ("ND", r))) {
            let lost: Vec<u32> = r.probes.iter().filter(|p| p.sent_unix_ns > self.removed_ns + GRACE.as_nanos() as u64 && !p.replied).map(|p| p.seq).collect();
            if !lost.is_empty() {
                v.push(format!("{} {kind} probes sent more than {} ms after the key's removal were lost: {lost:?}", lost.len(), GRACE.as_millis()));
            }
        }
        if self.before != self.after {
            v.push(format!("the flow table differs after recovery:\nbefore:\n{}\nafter:\n{}", self.before.join("\n"), self.after.join("\n")));
        }
        v
    }
}

/// `dump-flows --no-stats` output, one flow a line, sorted, with the round
/// bits of podflow's cookies cleared (they change with every round).
pub fn normalized_flows(dump: &str) -> Vec<String> {
    let mut v: Vec<String> = dump
        .lines()
        .map(|l| {
            let l = l.trim().to_string();
            match l.strip_prefix("cookie=0x") {
                Some(rest) => {
                    let (hex, tail) = rest.split_once(',').unwrap_or((rest, ""));
                    let c = u64::from_str_radix(hex, 16).unwrap_or(0);
                    let c = if podflow::pipeline::cookie::is_ours(c) { c & 0x0000_ffff_ffff_ffff } else { c };
                    format!("cookie={c:#x},{tail}")
                }
                None => l,
            }
        })
        .collect();
    v.sort();
    v
}
