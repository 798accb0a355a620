//! What the agent's nftables table holds, built as the JSON document
//! `nft -j -f -` reads (pure: no processes, no sockets).
//!
//! ```text
//! table inet podflow {
//!     set pods-v4    { type ipv4_addr; flags interval; elements = { <this node's pod CIDRs> } }
//!     set cluster-v4 { type ipv4_addr; flags interval; elements = { <--cluster-cidr, or the pod CIDRs> } }
//!     (the same two sets for IPv6 when the node has an IPv6 pod CIDR)
//!     chain postrouting {
//!         type nat hook postrouting priority srcnat; policy accept;
//!         ip saddr @pods-v4 ip daddr != @cluster-v4 oifname != "<gateway>" masquerade
//!         ip6 saddr @pods-v6 ip6 daddr != @cluster-v6 oifname != "<gateway>" masquerade
//!     }
//! }
//! ```
//!
//! The install script first adds and deletes the table, then builds it
//! again: in one transaction, that re-creates it whether or not it existed,
//! with no moment where pods' traffic leaves unmasqueraded. Every command
//! names this table; none names another.

use ipnet::IpNet;
use serde_json::{json, Value};

/// The table's name; its family is [`FAMILY`].
pub const TABLE: &str = "podflow";
/// `inet`: one table for IPv4 and IPv6.
pub const FAMILY: &str = "inet";
/// The NAT chain on the postrouting hook.
pub const CHAIN: &str = "postrouting";
/// `srcnat`: the priority NAT's postrouting chains use.
pub const PRIORITY_SRCNAT: i32 = 100;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RulesError {
    #[error("the egress rules need at least one pod CIDR")]
    NoPodCidr,
    #[error("{0:?} is not a usable interface name for the gateway (1 to 15 characters, no '/', no whitespace, no quotes)")]
    BadInterface(String),
}

/// The masquerade rules of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressRules {
    /// This node's pod CIDRs: the sources that are masqueraded.
    pod_cidrs: Vec<IpNet>,
    /// The cluster's pod CIDRs: destinations never masqueraded for.
    cluster_cidrs: Vec<IpNet>,
    /// The gateway port's interface: traffic leaving through it goes to pods.
    gateway: String,
}

impl EgressRules {
    /// `cluster` are the `--cluster-cidr` values; a family without any
    /// takes this node's pod CIDRs of that family (the default: every pod
    /// CIDR the agent knows). Overlapping CIDRs are merged, host bits
    /// cleared.
    pub fn new(pod_cidrs: &[IpNet], cluster: &[IpNet], gateway: &str) -> Result<EgressRules, RulesError> {
        if pod_cidrs.is_empty() {
            return Err(RulesError::NoPodCidr);
        }
        let bad_char = |c: char| c == '/' || c == '"' || c == '\'' || c.is_whitespace() || c.is_control();
        if gateway.is_empty() || gateway.len() > 15 || gateway.chars().any(bad_char) {
            return Err(RulesError::BadInterface(gateway.to_string()));
        }
        let mut cluster_cidrs: Vec<IpNet> = cluster.to_vec();
        for v6 in [false, true] {
            if !cluster.iter().any(|c| is_v6(c) == v6) {
                cluster_cidrs.extend(pod_cidrs.iter().filter(|c| is_v6(c) == v6));
            }
        }
        Ok(EgressRules { pod_cidrs: IpNet::aggregate(&pod_cidrs.to_vec()), cluster_cidrs: IpNet::aggregate(&cluster_cidrs), gateway: gateway.to_string() })
    }

    pub fn pod_cidrs(&self) -> &[IpNet] {
        &self.pod_cidrs
    }

    pub fn cluster_cidrs(&self) -> &[IpNet] {
        &self.cluster_cidrs
    }

    pub fn gateway(&self) -> &str {
        &self.gateway
    }

    /// One transaction that re-creates the table with these rules.
    pub fn install_script(&self) -> Value {
        let mut cmds = vec![metainfo(), json!({"add": {"table": table()}}), json!({"delete": {"table": table()}}), json!({"add": {"table": table()}})];
        cmds.push(json!({"add": {"chain": {
            "family": FAMILY, "table": TABLE, "name": CHAIN,
            "type": "nat", "hook": "postrouting", "prio": PRIORITY_SRCNAT, "policy": "accept"
        }}}));
        for v6 in [false, true] {
            let pods: Vec<&IpNet> = self.pod_cidrs.iter().filter(|c| is_v6(c) == v6).collect();
            if pods.is_empty() {
                continue;
            }
            let cluster: Vec<&IpNet> = self.cluster_cidrs.iter().filter(|c| is_v6(c) == v6).collect();
            let (suffix, addr_type, proto) = if v6 { ("v6", "ipv6_addr", "ip6") } else { ("v4", "ipv4_addr", "ip") };
            let (pods_set, cluster_set) = (format!("pods-{suffix}"), format!("cluster-{suffix}"));
            for (name, members) in [(&pods_set, &pods), (&cluster_set, &cluster)] {
                cmds.push(json!({"add": {"set": {"family": FAMILY, "table": TABLE, "name": name, "type": addr_type, "flags": ["interval"]}}}));
                let elem: Vec<Value> = members.iter().map(|c| json!({"prefix": {"addr": c.network().to_string(), "len": c.prefix_len()}})).collect();
                cmds.push(json!({"add": {"element": {"family": FAMILY, "table": TABLE, "name": name, "elem": elem}}}));
            }
            let addr_match = |op: &str, field: &str, set: &str| {
                json!({"match": {"op": op, "left": {"payload": {"protocol": proto, "field": field}}, "right": format!("@{set}")}})
            };
            cmds.push(json!({"add": {"rule": {
                "family": FAMILY, "table": TABLE, "chain": CHAIN,
                "comment": format!("podflow: pods to outside the cluster leave with the node's address ({proto})"),
                "expr": [
                    addr_match("==", "saddr", &pods_set),
                    addr_match("!=", "daddr", &cluster_set),
                    {"match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": self.gateway}},
                    {"masquerade": null}
                ]
            }}}));
        }
        json!({ "nftables": cmds })
    }
}

/// One transaction that removes the table if it exists (adding it first
/// makes the delete succeed either way) and touches nothing else.
pub fn remove_script() -> Value {
    json!({"nftables": [metainfo(), {"add": {"table": table()}}, {"delete": {"table": table()}}]})
}

fn metainfo() -> Value {
    json!({"metainfo": {"json_schema_version": 1}})
}

fn table() -> Value {
    json!({"family": FAMILY, "name": TABLE})
}

fn is_v6(c: &IpNet) -> bool {
    matches!(c, IpNet::V6(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn commands(v: &Value) -> &Vec<Value> {
        v["nftables"].as_array().unwrap()
    }

    /// Every command names the agent's table and no other.
    fn only_our_table(v: &Value) {
        for c in commands(v).iter().skip(1) {
            let (_, obj) = c.as_object().unwrap().iter().next().unwrap();
            let (_, inner) = obj.as_object().unwrap().iter().next().unwrap();
            assert_eq!(inner["family"], FAMILY, "{c}");
            let t = inner.get("table").and_then(Value::as_str).or_else(|| inner.get("name").and_then(Value::as_str));
            assert_eq!(t, Some(TABLE), "{c}");
        }
    }

    #[test]
    fn ipv4_only_defaults_the_cluster_to_the_pod_cidr() {
        let r = EgressRules::new(&[net("198.18.0.0/24")], &[], "pfgw-br-int").unwrap();
        assert_eq!(r.cluster_cidrs(), &[net("198.18.0.0/24")]);
        let s = r.install_script();
        only_our_table(&s);
        let text = s.to_string();
        assert!(text.contains("\"pods-v4\"") && text.contains("\"cluster-v4\"") && !text.contains("v6"), "{text}");
        let rules: Vec<&Value> = commands(&s).iter().filter_map(|c| c["add"].get("rule")).collect();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0]["expr"][2]["match"]["right"], "pfgw-br-int");
        assert!(rules[0]["expr"][3].get("masquerade").is_some());
        // Re-created: add, delete, add, in that order, before anything else.
        let first: Vec<String> = commands(&s)[1..4].iter().map(|c| c.as_object().unwrap().keys().next().unwrap().clone()).collect();
        assert_eq!(first, ["add", "delete", "add"]);
    }

    #[test]
    fn each_family_defaults_on_its_own_and_overlaps_merge() {
        let pods = [net("198.18.1.0/24"), net("fd00:10:0:1::/64")];
        let r = EgressRules::new(&pods, &[net("198.18.0.0/16"), net("198.18.7.9/24")], "gw0").unwrap();
        assert_eq!(r.cluster_cidrs(), &[net("198.18.0.0/16"), net("fd00:10:0:1::/64")]);
        let s = r.install_script();
        only_our_table(&s);
        let rules: Vec<&Value> = commands(&s).iter().filter_map(|c| c["add"].get("rule")).collect();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1]["expr"][0]["match"]["left"]["payload"]["protocol"], "ip6");
        assert_eq!(rules[1]["expr"][1]["match"]["right"], "@cluster-v6");
    }

    #[test]
    fn bad_input_is_refused() {
        assert_eq!(EgressRules::new(&[], &[], "gw0"), Err(RulesError::NoPodCidr));
        for bad in ["", "a-very-long-interface-name", "a\"b", "a b", "a/b"] {
            assert!(matches!(EgressRules::new(&[net("198.18.0.0/24")], &[], bad), Err(RulesError::BadInterface(_))), "{bad:?}");
        }
    }

    #[test]
    fn removal_names_only_our_table() {
        let s = remove_script();
        only_our_table(&s);
        assert_eq!(commands(&s).len(), 3);
    }
}
