//! The flow-restore-wait gate: decides *when* `other_config:flow-restore-wait`
//! may be removed after a switch (re)start. It is a pure state machine: time
//! is passed in, acknowledgements come in as events, and it answers whether
//! the key may go. It never touches OVSDB or the switch itself.
//!
//! Rules it enforces (each from a real failure, see shared notes):
//! - Every participant is registered when the round opens, before anyone
//!   waits; a participant registered later still holds the gate.
//! - The gate opens only when every participant has been acknowledged by
//!   the switch (bundle commit reply), or, past a configured deadline, with
//!   the failed/pending participants listed so they can be reported loudly.
//! - A failure never counts as an acknowledgement.

use crate::api::PodKey;
use std::collections::BTreeMap;
use std::time::Duration;
// The one clock: tokio's, so tests can pause it.
use tokio::time::Instant;

/// Something whose flows must be in the switch before forwarding resumes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Participant {
    /// The base pipeline (table-miss flows, gateway).
    Base,
    /// A pod, by its key (container id / interface).
    Pod(PodKey),
    /// A secondary bridge's forwarding flows.
    Bridge(String),
    /// The peers of the first complete peer list (their routes or tunnel
    /// flows): cross-node traffic must forward when the key goes.
    Peers,
    // A new kind of participant goes here; see docs/gate.md.
}

impl std::fmt::Display for Participant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Participant::Base => f.write_str("base pipeline"),
            Participant::Pod(k) => write!(f, "pod {}", k.file_name()),
            Participant::Bridge(b) => write!(f, "bridge {b}"),
            Participant::Peers => f.write_str("peers"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Pending,
    Acked(Instant),
    Failed(String),
}

/// Why the gate opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// Every participant acknowledged; the last acknowledgement's time.
    AllAcked { last_ack: Instant },
    /// The deadline passed; these were not acknowledged (with the reason).
    Deadline { missing: Vec<(Participant, String)> },
}

/// What the caller should do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Keep the key; ask again at `until` (the deadline) or on the next event.
    Wait { until: Option<Instant> },
    /// Remove the key now.
    Open(Opened),
}

/// One round's gate.
#[derive(Debug)]
pub struct Gate {
    round: u16,
    opened_at: Instant,
    deadline: Option<Duration>,
    parts: BTreeMap<Participant, State>,
    opened: Option<Opened>,
}

impl Gate {
    /// Opens a round's gate with every participant known now. `Base` is
    /// always a participant, so a node with no pods still waits for the
    /// base pipeline. `deadline` = None waits forever for failures.
    pub fn new(round: u16, participants: impl IntoIterator<Item = Participant>, now: Instant, deadline: Option<Duration>) -> Gate {
        let mut parts: BTreeMap<Participant, State> = participants.into_iter().map(|p| (p, State::Pending)).collect();
        parts.entry(Participant::Base).or_insert(State::Pending);
        Gate { round, opened_at: now, deadline, parts, opened: None }
    }

    pub fn round(&self) -> u16 {
        self.round
    }

    /// Adds a participant (a pod created during the replay). It holds the
    /// gate like the others; after the gate opened it changes nothing.
    pub fn register(&mut self, p: Participant) {
        if self.opened.is_none() {
            self.parts.entry(p).or_insert(State::Pending);
        }
    }

    /// Removes a participant that no longer exists (pod deleted).
    pub fn withdraw(&mut self, p: &Participant) {
        if self.opened.is_none() && *p != Participant::Base {
            self.parts.remove(p);
        }
    }

    /// The switch acknowledged the participant's flows.
    pub fn acked(&mut self, p: &Participant, now: Instant) {
        if let Some(s) = self.parts.get_mut(p) {
            *s = State::Acked(now);
        }
    }

    /// Installing the participant's flows failed (it may be retried and
    /// acknowledged later).
    pub fn failed(&mut self, p: &Participant, why: impl Into<String>) {
        if let Some(s) = self.parts.get_mut(p) {
            *s = State::Failed(why.into());
        }
    }

    pub fn state(&self, p: &Participant) -> Option<&State> {
        self.parts.get(p)
    }

    /// Every registered participant.
    pub fn participants(&self) -> impl Iterator<Item = &Participant> {
        self.parts.keys()
    }

    /// Whether some participant's last install was refused.
    pub fn any_failed(&self) -> bool {
        self.parts.values().any(|s| matches!(s, State::Failed(_)))
    }

    pub fn is_open(&self) -> bool {
        self.opened.is_some()
    }

    /// Decides whether the key may be removed now.
    pub fn poll(&mut self, now: Instant) -> Decision {
        if let Some(o) = &self.opened {
            return Decision::Open(o.clone());
        }
        let mut last_ack = self.opened_at;
        let mut missing = Vec::new();
        for (p, s) in &self.parts {
            match s {
                State::Acked(t) => last_ack = last_ack.max(*t),
                State::Pending => missing.push((p.clone(), "not acknowledged yet".to_string())),
                State::Failed(why) => missing.push((p.clone(), why.clone())),
            }
        }
        let decision = if missing.is_empty() {
            Opened::AllAcked { last_ack }
        } else {
            match self.deadline {
                Some(d) if now >= self.opened_at + d => Opened::Deadline { missing },
                Some(d) => return Decision::Wait { until: Some(self.opened_at + d) },
                None => return Decision::Wait { until: None },
            }
        };
        self.opened = Some(decision.clone());
        Decision::Open(decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods(n: usize) -> Vec<Participant> {
        (0..n).map(|i| pod(&format!("pod{i}"))).collect()
    }

    fn pod(name: &str) -> Participant {
        Participant::Pod(PodKey { container_id: name.into(), ifname: "eth0".into() })
    }

    #[test]
    fn zero_pods_still_waits_for_the_base_pipeline() {
        let t0 = Instant::now();
        let mut g = Gate::new(1, vec![], t0, None);
        assert_eq!(g.poll(t0), Decision::Wait { until: None });
        g.acked(&Participant::Base, t0 + Duration::from_millis(3));
        assert_eq!(g.poll(t0), Decision::Open(Opened::AllAcked { last_ack: t0 + Duration::from_millis(3) }));
    }

    #[test]
    fn opens_only_after_the_last_of_many_acks() {
        for n in [1, 100] {
            let t0 = Instant::now();
            let mut g = Gate::new(2, pods(n), t0, Some(Duration::from_secs(30)));
            g.acked(&Participant::Base, t0);
            for (i, p) in pods(n).iter().enumerate() {
                assert!(matches!(g.poll(t0), Decision::Wait { .. }), "opened with {i} of {n} pods acked");
                g.acked(p, t0 + Duration::from_millis(i as u64 + 1));
            }
            assert_eq!(g.poll(t0), Decision::Open(Opened::AllAcked { last_ack: t0 + Duration::from_millis(n as u64) }));
        }
    }

    #[test]
    fn a_late_registration_holds_the_gate() {
        let t0 = Instant::now();
        let mut g = Gate::new(3, pods(1), t0, None);
        g.register(pod("late"));
        g.acked(&Participant::Base, t0);
        g.acked(&pod("pod0"), t0);
        assert!(matches!(g.poll(t0), Decision::Wait { .. }));
        g.acked(&pod("late"), t0);
        assert!(matches!(g.poll(t0), Decision::Open(Opened::AllAcked { .. })));
    }

    #[test]
    fn a_failure_holds_until_the_deadline_and_is_reported() {
        let t0 = Instant::now();
        let d = Duration::from_secs(10);
        let mut g = Gate::new(4, pods(2), t0, Some(d));
        g.acked(&Participant::Base, t0);
        g.acked(&pod("pod0"), t0);
        g.failed(&pod("pod1"), "OFPFMFC_TABLE_FULL");
        assert_eq!(g.poll(t0 + Duration::from_secs(9)), Decision::Wait { until: Some(t0 + d) });
        assert_eq!(
            g.poll(t0 + d),
            Decision::Open(Opened::Deadline { missing: vec![(pod("pod1"), "OFPFMFC_TABLE_FULL".into())] })
        );
        // Once open, it stays open.
        assert!(g.is_open());
    }

    #[test]
    fn without_a_deadline_a_failure_never_opens() {
        let t0 = Instant::now();
        let mut g = Gate::new(5, pods(1), t0, None);
        g.acked(&Participant::Base, t0);
        g.failed(&pod("pod0"), "switch refused");
        assert_eq!(g.poll(t0 + Duration::from_secs(3600)), Decision::Wait { until: None });
        // A retry that succeeds opens it.
        g.acked(&pod("pod0"), t0 + Duration::from_secs(3601));
        assert!(matches!(g.poll(t0), Decision::Open(Opened::AllAcked { .. })));
    }

    #[test]
    fn a_withdrawn_pod_no_longer_holds_it() {
        let t0 = Instant::now();
        let mut g = Gate::new(6, pods(2), t0, None);
        g.acked(&Participant::Base, t0);
        g.acked(&pod("pod0"), t0);
        g.withdraw(&pod("pod1"));
        assert!(matches!(g.poll(t0), Decision::Open(Opened::AllAcked { .. })));
    }
}
