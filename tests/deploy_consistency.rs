//! The deployment files agree with each other and with the binary:
//! `docker-compose.yml` and its sandbox override, the Dockerfiles, the OVS
//! entrypoint, `.dockerignore` and `scripts/images.sh` (run for real by
//! tests/containers.rs where a Docker engine is present; there is no cluster
//! here for the rest), `deploy/kubernetes/*.yaml`, and the commands shown in
//! `docs/containers.md` and `docs/kubernetes.md`. Every
//! `podflow` command and flag they use must exist (`podflow … --help` of
//! the real binary), the OVS run directory must be shared where
//! `--ovs-rundir` says, and the state directory mounted where
//! `--state-dir` says.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml_docs(rel: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml_ng::Deserializer::from_str(&read(rel))
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{rel}: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

/// `${VAR:-default}` → default (what compose uses when VAR is unset);
/// `${VAR:?message}` → empty.
fn compose_default(s: &str) -> String {
    let mut out = s.to_string();
    while let Some(i) = out.find("${") {
        let Some(j) = out[i..].find('}') else { break };
        let inner = &out[i + 2..i + j];
        let def = inner.split_once(":-").map_or("", |(_, d)| d).to_string();
        out.replace_range(i..i + j + 1, &def);
    }
    out
}

/// `podflow --help` / `podflow SUB --help`, cached: (subcommands, flags of each).
struct Cli {
    help: BTreeMap<String, String>,
}

impl Cli {
    fn help(&mut self, sub: &str) -> &str {
        self.help.entry(sub.to_string()).or_insert_with(|| {
            let mut c = Command::new(env!("CARGO_BIN_EXE_podflow"));
            if !sub.is_empty() {
                c.arg(sub);
            }
            let out = c.arg("--help").output().unwrap();
            assert!(out.status.success(), "podflow {sub} --help failed");
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
    }

    /// Checks one invocation: tokens after the binary. Returns the flags
    /// with their values.
    fn check(&mut self, what: &str, args: &[String]) -> BTreeMap<String, String> {
        let sub = args.first().unwrap_or_else(|| panic!("{what}: no podflow command")).clone();
        let top = self.help("").to_string();
        assert!(
            top.lines().any(|l| l.split_whitespace().next() == Some(sub.as_str())),
            "{what}: `podflow {sub}` is not a podflow command"
        );
        let help = self.help(&sub).to_string();
        let mut flags = BTreeMap::new();
        let mut i = 1;
        while i < args.len() {
            let a = &args[i];
            if let Some(f) = a.strip_prefix("--") {
                let (name, inline) = match f.split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (f.to_string(), None),
                };
                assert!(
                    help.contains(&format!("--{name} ")) || help.contains(&format!("--{name}\n")) || help.contains(&format!("--{name}=")) || help.contains(&format!("--{name} <")),
                    "{what}: `podflow {sub}` has no flag --{name}"
                );
                let value = match inline {
                    Some(v) => v,
                    None if args.get(i + 1).is_some_and(|n| !n.starts_with("--")) && help.contains(&format!("--{name} <")) => {
                        i += 1;
                        args[i].clone()
                    }
                    None => String::new(),
                };
                flags.insert(name, value);
            }
            i += 1;
        }
        flags
    }
}

fn cli() -> Cli {
    Cli { help: BTreeMap::new() }
}

/// Splits a shell line into words (quotes removed; enough for our files).
fn words(s: &str) -> Vec<String> {
    let mut v = vec![];
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for ch in s.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => quote = Some(ch),
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    v.push(std::mem::take(&mut cur));
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        v.push(cur);
    }
    v
}

/// The arguments after the `podflow` binary in a word list (the first
/// `podflow` word followed by one of `subs`), up to a shell separator or a
/// comment.
fn after_podflow(w: &[String], subs: &BTreeSet<String>) -> Option<Vec<String>> {
    let i = (0..w.len()).find(|&i| (w[i] == "podflow" || w[i].ends_with("/podflow")) && w.get(i + 1).is_some_and(|n| subs.contains(n)))?;
    Some(w[i + 1..].iter().take_while(|t| !matches!(t.as_str(), "|" | "&&" | ";" | "#")).cloned().collect())
}

/// The subcommands `podflow --help` lists.
fn subcommands(c: &mut Cli) -> BTreeSet<String> {
    let top = c.help("").to_string();
    top.split("Commands:")
        .nth(1)
        .unwrap_or("")
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.strip_prefix("  ").and_then(|r| r.split_whitespace().next()).map(str::to_string))
        .collect()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// Compose volume entries as (source, target).
fn compose_mounts(svc: &Value) -> Vec<(String, String)> {
    svc["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| match m {
            Value::String(s) => {
                let s = compose_default(s);
                let p: Vec<&str> = s.split(':').collect();
                (p[0].to_string(), p.get(1).unwrap_or(&p[0]).to_string())
            }
            o => (o["source"].as_str().unwrap_or("").to_string(), o["target"].as_str().unwrap_or("").to_string()),
        })
        .collect()
}

#[test]
fn compose_services_share_the_ovs_run_directory_and_use_real_flags() {
    let doc = yaml_docs("docker-compose.yml").remove(0);
    let svcs = &doc["services"];
    let (ovs, pf) = (&svcs["ovs"], &svcs["podflow"]);
    assert!(ovs.is_object() && pf.is_object(), "services ovs and podflow");
    for (name, s) in [("ovs", ovs), ("podflow", pf)] {
        assert_eq!(s["network_mode"], "host", "{name}: host networking");
        assert!(strs(&s["cap_add"]).contains(&"NET_ADMIN".to_string()), "{name}: NET_ADMIN");
    }
    assert!(strs(&pf["cap_add"]).contains(&"SYS_ADMIN".to_string()), "podflow enters pod namespaces: SYS_ADMIN");

    // Build files exist and are what the docs say: registry defaults, and a
    // base image that scripts/images.sh can replace.
    let ovs_ctx = ovs["build"]["context"].as_str().unwrap();
    let ovs_df = read(&format!("{ovs_ctx}/Dockerfile"));
    assert!(ovs_df.contains("ARG BASE_IMAGE=debian:12-slim\nFROM ${BASE_IMAGE}") && ovs_df.contains("openvswitch-switch"), "OVS image: Debian 12 with its Open vSwitch");
    let pf_df = read(pf["build"]["dockerfile"].as_str().unwrap());
    assert!(pf_df.contains("podflow-cni") && pf_df.contains("cargo build --release"));
    assert!(pf_df.contains("ARG BASE_IMAGE=debian:12-slim") && pf_df.contains("ARG RUST_IMAGE=rust:1-bookworm"));
    // The legacy builder builds every stage up to its target: `prebuilt`
    // must come before the stage that needs the rust image.
    let prebuilt = pf_df.find("AS prebuilt").expect("a prebuilt stage");
    let rust = pf_df.find("FROM ${RUST_IMAGE}").expect("the rust stage");
    assert!(prebuilt < rust, "the prebuilt stage must precede the rust stage");
    let entry = read(&format!("{ovs_ctx}/entrypoint.sh"));
    let preset = entry.find("other_config:flow-restore-wait=true").expect("the entrypoint presets flow-restore-wait");
    let vswitchd = entry.rfind("ovs-vswitchd \"unix:").expect("the entrypoint starts ovs-vswitchd");
    assert!(preset < vswitchd, "flow-restore-wait must be set before ovs-vswitchd starts");

    // Named volumes are declared.
    let declared: BTreeSet<String> = doc["volumes"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    for (name, s) in [("ovs", ovs), ("podflow", pf)] {
        for (src, _) in compose_mounts(s) {
            assert!(src.starts_with('/') || declared.contains(&src), "{name}: volume {src} is not declared");
        }
    }

    // The agent's command line.
    let args: Vec<String> = strs(&pf["command"]).iter().map(|s| compose_default(s)).collect();
    let flags = cli().check("docker-compose.yml podflow", &args);
    assert_eq!(args[0], "agent");
    let rundir = &flags["ovs-rundir"];
    let shared: Vec<String> = compose_mounts(ovs).into_iter().filter(|(_, t)| t == rundir).map(|(s, _)| s).collect();
    assert!(!shared.is_empty(), "the ovs service must mount the run directory {rundir}");
    assert!(compose_mounts(pf).iter().any(|(s, t)| t == rundir && shared.contains(s)), "podflow must mount the same volume at {rundir}");
    let state = &flags["state-dir"];
    assert!(compose_mounts(pf).iter().any(|(_, t)| t == state), "the state dir {state} must be mounted");
    assert!(compose_mounts(pf).iter().any(|(_, t)| t == "/var/run/netns"), "pods' namespaces must be visible");
    assert!(flags.contains_key("metrics-addr") && flags.contains_key("pod-cidr"));
}

#[test]
fn the_sandbox_override_and_the_image_script_fit_the_compose_file() {
    let base = yaml_docs("docker-compose.yml").remove(0);
    let over = yaml_docs("deploy/docker/compose.sandbox.yml").remove(0);
    let svcs = &over["services"];
    assert_eq!(svcs["node"]["network_mode"], "none", "the node service makes the namespace");
    for name in ["ovs", "podflow"] {
        assert!(base["services"][name].is_object(), "{name} overrides a service of docker-compose.yml");
        assert_eq!(svcs[name]["network_mode"], "service:node", "{name} joins the node's namespace");
    }
    assert!(strs(&svcs["ovs"]["devices"]).iter().any(|d| d.starts_with("/dev/net/tun")), "tap devices for internal ports");
    // The override's mounts replace the base file's by target: the run
    // directory is still shared, the state directory is still mounted.
    let args: Vec<String> = strs(&base["services"]["podflow"]["command"]).iter().map(|s| compose_default(s)).collect();
    let flags = cli().check("docker-compose.yml podflow", &args);
    let (rundir, state) = (&flags["ovs-rundir"], &flags["state-dir"]);
    let src = |svc: &str, target: &str| compose_mounts(&svcs[svc]).into_iter().find(|(_, t)| t == target).map(|(s, _)| s);
    assert!(src("ovs", rundir).is_some() && src("ovs", rundir) == src("podflow", rundir), "ovs and podflow share {rundir}");
    assert!(src("podflow", state).is_some(), "the state dir {state} is a host directory");
    // The node's image must exist after scripts/images.sh.
    let images = read("scripts/images.sh");
    for svc in ["ovs", "podflow"] {
        let image = base["services"][svc]["image"].as_str().unwrap();
        assert!(images.contains(&format!("={image}\n")), "scripts/images.sh builds {image}");
    }
    assert!(images.contains("--target prebuilt"));
    let node_image = svcs["node"]["image"].as_str().unwrap();
    assert!([&base["services"]["ovs"]["image"], &base["services"]["podflow"]["image"]].iter().any(|i| i.as_str() == Some(node_image)));
    // The build context ships the two release binaries, not target/.
    let ignore_text = read(".dockerignore");
    let ignore: Vec<&str> = ignore_text.lines().collect();
    for line in ["target", "!target/release/podflow", "!target/release/podflow-cni"] {
        assert!(ignore.contains(&line), ".dockerignore: {line}");
    }
}

#[test]
fn the_daemonset_mounts_what_its_flags_name_and_uses_real_flags() {
    let docs = yaml_docs("deploy/kubernetes/podflow.yaml");
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    let ds = docs.iter().find(|d| d["kind"] == "DaemonSet").expect("a DaemonSet");
    let spec = &ds["spec"]["template"]["spec"];
    assert_eq!(spec["hostNetwork"], true);
    let sa = spec["serviceAccountName"].as_str().expect("a service account");
    assert!(docs.iter().any(|d| d["kind"] == "ServiceAccount" && d["metadata"]["name"] == sa), "service account {sa} is defined");
    assert!(kinds.contains(&"ClusterRoleBinding"), "{kinds:?}");

    let volumes: BTreeMap<String, Value> = spec["volumes"].as_array().unwrap().iter().map(|v| (v["name"].as_str().unwrap().to_string(), v.clone())).collect();
    let container = |list: &str, name: &str| -> Value {
        spec[list].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("{list} {name}")).clone()
    };
    let mounts = |c: &Value| -> Vec<(String, String)> {
        c["volumeMounts"].as_array().into_iter().flatten().map(|m| (m["name"].as_str().unwrap().to_string(), m["mountPath"].as_str().unwrap().to_string())).collect()
    };
    let (ovs, pf, init) = (container("containers", "ovs"), container("containers", "podflow"), container("initContainers", "install-cni"));
    for c in [&ovs, &pf, &init] {
        for (v, _) in mounts(c) {
            assert!(volumes.contains_key(&v), "volume {v} is mounted but not defined");
        }
    }

    // The images are the ones docker-compose.yml builds.
    let compose = yaml_docs("docker-compose.yml").remove(0);
    assert_eq!(ovs["image"], compose["services"]["ovs"]["image"]);
    assert_eq!(pf["image"], compose["services"]["podflow"]["image"]);
    assert_eq!(init["image"], compose["services"]["podflow"]["image"]);

    // The agent's command line (a shell line: it reads the pod CIDR file).
    let line = strs(&pf["args"]).join(" ");
    let w = words(&line);
    let mut c = cli();
    let subs = subcommands(&mut c);
    let args = after_podflow(&w, &subs).expect("the podflow container runs podflow");
    let flags = c.check("DaemonSet podflow", &args);
    let rundir = &flags["ovs-rundir"];
    let ovs_vol = mounts(&ovs).into_iter().find(|(_, p)| p == rundir).map(|(v, _)| v).expect("ovs mounts the run directory");
    assert!(mounts(&pf).contains(&(ovs_vol, rundir.clone())), "podflow mounts the ovs run directory volume at {rundir}");
    let state = &flags["state-dir"];
    let state_vol = mounts(&pf).into_iter().find(|(_, p)| p == state).map(|(v, _)| v).expect("the state dir is mounted");
    assert!(line.contains(&format!("{state}/pod-cidr")), "the agent reads the pod CIDR the init container wrote");
    assert!(mounts(&init).contains(&(state_vol, state.clone())), "the init container writes into the same state volume");
    let env: BTreeMap<String, String> =
        init["env"].as_array().unwrap().iter().filter_map(|e| Some((e["name"].as_str()?.to_string(), e["value"].as_str().unwrap_or("").to_string()))).collect();
    assert_eq!(env.get("PODFLOW_STATE_DIR"), Some(state));
    for (var, host) in [("CNI_BIN_DIR", "/opt/cni/bin"), ("CNI_CONF_DIR", "/etc/cni/net.d")] {
        let p = &env[var];
        let (v, _) = mounts(&init).into_iter().find(|(_, m)| m == p).unwrap_or_else(|| panic!("{var}={p} is mounted"));
        assert_eq!(volumes[&v]["hostPath"]["path"], *host, "{var} is the host's {host}");
    }
    assert!(mounts(&pf).iter().any(|(_, p)| p == "/var/run/netns"));

    // The init container's script is in the image and writes the socket the agent serves.
    let cmd = strs(&init["command"]);
    let pf_df = read("deploy/docker/podflow/Dockerfile");
    assert!(pf_df.contains(&cmd[0]), "the podflow image installs {}", cmd[0]);
    let script = read("deploy/docker/podflow/install-cni.sh");
    assert!(script.contains(&format!("{state}/podflow.sock")), "the conflist's agentSocket is <state-dir>/podflow.sock");
    assert_eq!(volumes[&mounts(&pf).into_iter().find(|(_, p)| p == state).unwrap().0]["hostPath"]["path"], *state, "host path = container path, so the host's CNI plugin finds the socket");

    // Peers: the agent watches Node objects as this node (spec.nodeName),
    // and its ClusterRole, bound to the DaemonSet's service account, lets it.
    assert_eq!(flags.get("nodes-from").map(String::as_str), Some("kubernetes"), "{line}");
    let node_var = flags["node-name"].trim_matches('"').strip_prefix('$').expect("--node-name comes from the environment").to_string();
    let node_env = pf["env"].as_array().unwrap().iter().find(|e| e["name"] == node_var.as_str()).unwrap_or_else(|| panic!("env {node_var} of the podflow container"));
    assert_eq!(node_env["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName");
    let binding = docs.iter().find(|d| d["kind"] == "ClusterRoleBinding").unwrap();
    assert!(binding["subjects"].as_array().unwrap().iter().any(|s| s["kind"] == "ServiceAccount" && s["name"] == sa), "the binding names the DaemonSet's service account");
    let role = docs.iter().find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == binding["roleRef"]["name"]).expect("the bound ClusterRole");
    let node_verbs: BTreeSet<String> = role["rules"].as_array().unwrap().iter().filter(|r| strs(&r["resources"]).contains(&"nodes".to_string())).flat_map(|r| strs(&r["verbs"])).collect();
    for v in ["get", "list", "watch"] {
        assert!(node_verbs.contains(v), "the ClusterRole allows {v} on nodes: {node_verbs:?}");
    }

    // Probes reach the endpoints the agent serves, where it binds them.
    let metrics: std::net::SocketAddr = flags["metrics-addr"].parse().expect("--metrics-addr is an address");
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/livez")] {
        let get = &pf[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(get["host"].as_str(), Some(metrics.ip().to_string().as_str()), "{probe} reaches the agent where it binds");
        assert_eq!(get["port"].as_u64(), Some(u64::from(metrics.port())), "{probe} port");
        let src = read("src/agent/metrics.rs");
        assert!(src.contains(&format!("\"{path}\" =>")), "the agent serves {path}");
    }
}

#[test]
fn the_docs_use_real_commands_and_name_the_shared_paths() {
    let mut c = cli();
    let subs = subcommands(&mut c);
    assert!(subs.contains("agent") && subs.contains("demo"), "{subs:?}");
    for doc in ["docs/containers.md", "docs/kubernetes.md", "README.md"] {
        let text = read(doc);
        let mut in_code = false;
        let mut checked = 0;
        for l in text.lines() {
            if l.trim_start().starts_with("```") {
                in_code = !in_code;
                continue;
            }
            if !in_code {
                continue;
            }
            let w = words(l.trim_start_matches("$ "));
            if let Some(args) = after_podflow(&w, &subs) {
                c.check(&format!("{doc}: {l}"), &args);
                checked += 1;
            }
        }
        if doc != "README.md" {
            assert!(checked > 0, "{doc} shows no podflow command");
            for path in ["/var/run/openvswitch", "/var/lib/podflow"] {
                assert!(text.contains(path), "{doc} names {path}");
            }
        }
    }
}

#[test]
fn the_checker_rejects_unknown_commands_and_flags() {
    let mut c = cli();
    let subs = subcommands(&mut c);
    assert!(!subs.iter().any(|s| s.starts_with('-')), "{subs:?}");
    let w = words("exec podflow agent --ovs-rundir /x --no-such-flag");
    let args = after_podflow(&w, &subs).unwrap();
    assert!(std::panic::catch_unwind(move || cli().check("bogus", &args)).is_err(), "an unknown flag must fail");
    assert!(after_podflow(&words("podflow no-such-command"), &subs).is_none());
}
