//! One round (replay → gate → key removal → stale delete) as a pure state
//! machine, in the style of [`crate::openflow::core`]: the driver in
//! [`super::runtime`] feeds it [`Event`]s and timeouts at `now`, and carries
//! out the [`Action`]s it polls.
//!
//! Owns: the order of a round's steps, which participants are (re)sent and
//! when, the retry backoff, and when the gate's deadline is looked at.
//! Never: touches the switch, OVSDB, the store or a clock; never removes
//! the key before the [`Gate`] opened.
//!
//! Participants are the gate's: the base pipeline (sent first, alone: the
//! pods' flows need the port numbers read with it), pods (sent in batches)
//! and every other kind (sent one by one with [`Action::Install`]). Adding a
//! kind is adding a [`Participant`] variant, listing it when the round is
//! created, and carrying out its `Install` in the driver (docs/gate.md).

use super::gate::{Decision, Gate, Opened, Participant};
use crate::api::PodKey;
use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// Timing and fault knobs of a round.
#[derive(Debug, Clone)]
pub struct RoundConfig {
    /// Past it the key is removed even if some participants failed; `None`
    /// waits for every one.
    pub deadline: Option<Duration>,
    /// First retry delay of refused participants, doubled up to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// Test-only fault: remove the key before anything is installed.
    pub clear_key_early: bool,
}

/// What happened, as the driver saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The switch acknowledged the participant's flows.
    Acked(Participant),
    /// They were refused or could not be sent; retried with backoff.
    Refused(Participant, String),
    /// A pod joined the round (an ADD while the round runs): it holds the
    /// gate and is sent with the next batch.
    PodAdded(PodKey),
    /// A pod is gone (DEL, its namespace vanished): it no longer holds the gate.
    PodRemoved(PodKey),
    /// The key was removed and read back.
    KeyCleared,
    /// Removing the key or deleting older rounds failed; retried (the key)
    /// or left to the next round (the stale delete).
    StepFailed(String),
    /// Older rounds' flows were deleted.
    StaleDeleted,
    /// The switch this round talks to is gone: the round ends unfinished.
    SwitchLost,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Test-only fault: remove the key now (Antrea's bug).
    ClearKeyEarly,
    /// Install the base pipeline (and read the switch's port numbers).
    InstallBase,
    /// Install these pods' flows, as few bundles as possible.
    InstallPods(Vec<PodKey>),
    /// Install another participant's flows (a secondary bridge, …).
    Install(Participant),
    /// The gate opened: remove the key (and read it back).
    ClearKey(Opened),
    /// Delete every round's flows but this one's.
    DeleteStale(u16),
    /// The round is over.
    Done(Outcome),
}

/// How a round ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The key is gone. `stale_kept`: older rounds' flows are still there
    /// (some pod failed and forwards on them, or the delete failed).
    Complete { stale_kept: bool },
    /// The switch was lost first.
    SwitchLost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Installing,
    ClearingKey,
    DeletingStale,
    Done,
}

/// One round.
#[derive(Debug)]
pub struct Round {
    cfg: RoundConfig,
    gate: Gate,
    phase: Phase,
    base_acked: bool,
    /// Sent, outcome not reported yet.
    in_flight: BTreeSet<Participant>,
    /// To send at the next opportunity (after the base is acked).
    queued: BTreeSet<Participant>,
    /// Refused, waiting for `retry_at`.
    refused: BTreeSet<Participant>,
    retry_at: Option<Instant>,
    /// The gate's deadline, while it matters.
    deadline_at: Option<Instant>,
    retry_delay: Duration,
    /// Every participant was sent once and its first outcome is known.
    replayed: bool,
    /// The key removal failed; retry at `retry_at`.
    key_retry: bool,
    actions: VecDeque<Action>,
}

impl Round {
    /// Starts round `round` at `now` with every participant known now
    /// (registered before anything is installed; the base always is one).
    pub fn new(round: u16, participants: impl IntoIterator<Item = Participant>, now: Instant, cfg: RoundConfig) -> Round {
        let gate = Gate::new(round, participants, now, cfg.deadline);
        let queued = gate.participants().filter(|p| **p != Participant::Base).cloned().collect();
        let mut actions = VecDeque::new();
        if cfg.clear_key_early {
            actions.push_back(Action::ClearKeyEarly);
        }
        actions.push_back(Action::InstallBase);
        let mut r = Round {
            retry_delay: cfg.retry_initial,
            cfg,
            gate,
            phase: Phase::Installing,
            base_acked: false,
            in_flight: BTreeSet::from([Participant::Base]),
            queued,
            refused: BTreeSet::new(),
            retry_at: None,
            deadline_at: None,
            replayed: false,
            key_retry: false,
            actions,
        };
        r.decide(now);
        r
    }

    pub fn number(&self) -> u16 {
        self.gate.round()
    }

    /// Every participant was sent once and its first outcome is known:
    /// from here on the round only waits (retries, deadline), and pod
    /// requests need not wait for it.
    pub fn replayed(&self) -> bool {
        self.replayed
    }

    /// The pods the round still waits for (queued, sent, refused).
    pub fn waiting_pods(&self) -> impl Iterator<Item = &PodKey> {
        self.queued.iter().chain(&self.in_flight).chain(&self.refused).filter_map(|p| match p {
            Participant::Pod(k) => Some(k),
            _ => None,
        })
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Round::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Installing => [self.retry_at, self.deadline_at].into_iter().flatten().min(),
            Phase::ClearingKey => self.retry_at,
            _ => None,
        }
    }

    /// Time passed: resend what was refused, or let the deadline open the gate.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.retry_at.is_some_and(|t| now >= t) {
            self.retry_at = None;
            if self.key_retry {
                self.key_retry = false;
                if let Decision::Open(o) = self.gate.poll(now) {
                    self.actions.push_back(Action::ClearKey(o));
                }
            } else {
                self.queued.append(&mut self.refused);
            }
        }
        self.decide(now);
    }

    /// One event at `now`.
    pub fn handle(&mut self, ev: Event, now: Instant) {
        if self.apply(ev, now) {
            self.decide(now);
        }
    }

    /// Several events at `now` (a batch's acknowledgements), deciding once
    /// after all of them: deciding polls the whole gate, so deciding after
    /// each of 10,000 acknowledgements would be quadratic.
    pub fn handle_all(&mut self, events: impl IntoIterator<Item = Event>, now: Instant) {
        let mut decide = false;
        for ev in events {
            decide |= self.apply(ev, now);
        }
        if decide {
            self.decide(now);
        }
    }

    /// Takes one event in; true when the round must decide again.
    fn apply(&mut self, ev: Event, now: Instant) -> bool {
        if self.phase == Phase::Done {
            return false;
        }
        match ev {
            Event::SwitchLost => {
                self.finish(Outcome::SwitchLost);
                return false;
            }
            Event::Acked(p) => {
                self.in_flight.remove(&p);
                if p == Participant::Base {
                    self.base_acked = true;
                }
                self.gate.acked(&p, now);
            }
            Event::Refused(p, why) => {
                if self.in_flight.remove(&p) || self.gate.state(&p).is_some() {
                    self.gate.failed(&p, why);
                    self.refused.insert(p);
                    if self.retry_at.is_none() {
                        self.retry_at = Some(now + self.retry_delay);
                        self.retry_delay = (self.retry_delay * 2).min(self.cfg.retry_max);
                    }
                }
            }
            Event::PodAdded(k) => {
                let p = Participant::Pod(k);
                if self.phase == Phase::Installing && self.gate.state(&p).is_none() {
                    self.gate.register(p.clone());
                    self.queued.insert(p);
                }
            }
            Event::PodRemoved(k) => {
                let p = Participant::Pod(k);
                self.gate.withdraw(&p);
                self.in_flight.remove(&p);
                self.queued.remove(&p);
                self.refused.remove(&p);
            }
            Event::KeyCleared if self.phase == Phase::ClearingKey => {
                if self.gate.any_failed() {
                    // A refused pod's older flows forward until its retry succeeds.
                    self.finish(Outcome::Complete { stale_kept: true });
                } else {
                    self.phase = Phase::DeletingStale;
                    self.actions.push_back(Action::DeleteStale(self.gate.round()));
                }
                return false;
            }
            Event::StepFailed(_) if self.phase == Phase::ClearingKey => {
                self.key_retry = true;
                self.retry_at = Some(now + self.retry_delay);
                self.retry_delay = (self.retry_delay * 2).min(self.cfg.retry_max);
                return false;
            }
            Event::StaleDeleted if self.phase == Phase::DeletingStale => {
                self.finish(Outcome::Complete { stale_kept: false });
                return false;
            }
            Event::StepFailed(_) if self.phase == Phase::DeletingStale => {
                self.finish(Outcome::Complete { stale_kept: true });
                return false;
            }
            Event::KeyCleared | Event::StepFailed(_) | Event::StaleDeleted => return false,
        }
        true
    }

    fn finish(&mut self, o: Outcome) {
        self.phase = Phase::Done;
        self.actions.clear();
        self.actions.push_back(Action::Done(o));
    }

    /// Sends what is queued, and opens the gate when it may.
    fn decide(&mut self, now: Instant) {
        if self.phase != Phase::Installing {
            return;
        }
        if !self.base_acked && self.queued.remove(&Participant::Base) {
            self.in_flight.insert(Participant::Base);
            self.actions.push_back(Action::InstallBase);
        }
        if self.base_acked && !self.queued.is_empty() {
            let queued = std::mem::take(&mut self.queued);
            let mut pods = Vec::new();
            for p in queued {
                self.in_flight.insert(p.clone());
                match p {
                    Participant::Pod(k) => pods.push(k),
                    other => self.actions.push_back(Action::Install(other)),
                }
            }
            if !pods.is_empty() {
                self.actions.push_back(Action::InstallPods(pods));
            }
        }
        if self.base_acked && self.in_flight.is_empty() {
            self.replayed = true;
        }
        match self.gate.poll(now) {
            Decision::Open(o) => {
                self.phase = Phase::ClearingKey;
                self.retry_at = None;
                self.deadline_at = None;
                self.actions.push_back(Action::ClearKey(o));
            }
            Decision::Wait { until } => self.deadline_at = until,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> PodKey {
        PodKey { container_id: format!("c{i}"), ifname: "eth0".into() }
    }

    fn pod(i: u32) -> Participant {
        Participant::Pod(key(i))
    }

    fn cfg(deadline: Option<Duration>) -> RoundConfig {
        RoundConfig { deadline, retry_initial: Duration::from_millis(100), retry_max: Duration::from_millis(400), clear_key_early: false }
    }

    fn drain(r: &mut Round) -> Vec<Action> {
        std::iter::from_fn(|| r.poll_action()).collect()
    }

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    #[test]
    fn base_first_then_pods_in_one_batch_then_key_then_stale_delete() {
        for n in [0, 1, 100] {
            let t0 = Instant::now();
            let mut r = Round::new(7, (0..n).map(pod), t0, cfg(None));
            assert_eq!(r.poll_action(), Some(Action::InstallBase));
            assert_eq!(r.poll_action(), None, "nothing before the base is acked");
            r.handle(Event::Acked(Participant::Base), t0);
            if n > 0 {
                let mut all: Vec<PodKey> = (0..n).map(key).collect();
                all.sort();
                assert_eq!(r.poll_action(), Some(Action::InstallPods(all)));
                assert_eq!(r.poll_action(), None);
                for i in 0..n {
                    assert!(!matches!(r.poll_action(), Some(Action::ClearKey(_))), "key before pod {i}");
                    r.handle(Event::Acked(pod(i)), ms(t0, 1));
                }
            }
            assert!(r.replayed());
            assert!(matches!(r.poll_action(), Some(Action::ClearKey(Opened::AllAcked { .. }))));
            r.handle(Event::KeyCleared, ms(t0, 2));
            assert_eq!(r.poll_action(), Some(Action::DeleteStale(7)));
            r.handle(Event::StaleDeleted, ms(t0, 3));
            assert_eq!(drain(&mut r), vec![Action::Done(Outcome::Complete { stale_kept: false })]);
        }
    }

    #[test]
    fn a_refused_pod_is_resent_with_backoff_and_holds_the_key_without_a_deadline() {
        let t0 = Instant::now();
        let mut r = Round::new(1, [pod(0), pod(1)], t0, cfg(None));
        assert_eq!(r.poll_action(), Some(Action::InstallBase));
        r.handle(Event::Acked(Participant::Base), t0);
        let _ = r.poll_action();
        r.handle(Event::Acked(pod(0)), t0);
        r.handle(Event::Refused(pod(1), "OFPFMFC_TABLE_FULL".into()), t0);
        assert!(r.replayed());
        assert_eq!(r.poll_timeout(), Some(ms(t0, 100)));
        r.handle_timeout(ms(t0, 99));
        assert_eq!(r.poll_action(), None, "resent before its time");
        r.handle_timeout(ms(t0, 100));
        assert_eq!(r.poll_action(), Some(Action::InstallPods(vec![key(1)])));
        r.handle(Event::Refused(pod(1), "again".into()), ms(t0, 101));
        assert_eq!(r.poll_timeout(), Some(ms(t0, 301)), "the delay doubled");
        // An hour later without a deadline: resent, never the key.
        let mut t = ms(t0, 301);
        for _ in 0..20 {
            r.handle_timeout(t);
            assert_eq!(r.poll_action(), Some(Action::InstallPods(vec![key(1)])));
            r.handle(Event::Refused(pod(1), "again".into()), t);
            t = r.poll_timeout().unwrap();
        }
        assert!(t <= ms(t0, 301 + 20 * 400), "the delay is capped");
        r.handle_timeout(t);
        let _ = r.poll_action();
        r.handle(Event::Acked(pod(1)), t);
        assert!(matches!(r.poll_action(), Some(Action::ClearKey(Opened::AllAcked { .. }))));
    }

    #[test]
    fn past_the_deadline_the_key_goes_and_older_flows_are_kept_for_the_failed_pod() {
        let t0 = Instant::now();
        let mut r2 = Round::new(2, [pod(0), pod(1)], t0, cfg(Some(Duration::from_secs(1))));
        let _ = r2.poll_action();
        r2.handle(Event::Acked(Participant::Base), t0);
        let _ = r2.poll_action();
        r2.handle(Event::Acked(pod(0)), t0);
        r2.handle(Event::Refused(pod(1), "refused".into()), t0);
        assert_eq!(r2.poll_timeout(), Some(ms(t0, 100)), "the retry comes before the deadline");
        let mut t = t0;
        while let Some(next) = r2.poll_timeout() {
            t = next;
            r2.handle_timeout(t);
            match r2.poll_action() {
                Some(Action::InstallPods(_)) => r2.handle(Event::Refused(pod(1), "refused".into()), t),
                Some(Action::ClearKey(Opened::Deadline { missing })) => {
                    assert_eq!(missing, vec![(pod(1), "refused".to_string())]);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(t, ms(t0, 1000), "opened at the deadline, not before");
        r2.handle(Event::KeyCleared, t);
        assert_eq!(drain(&mut r2), vec![Action::Done(Outcome::Complete { stale_kept: true })]);
    }

    #[test]
    fn a_removed_pod_releases_the_gate_and_is_not_resent() {
        let t0 = Instant::now();
        let mut r = Round::new(3, [pod(0), pod(1)], t0, cfg(None));
        let _ = r.poll_action();
        r.handle(Event::Acked(Participant::Base), t0);
        let _ = r.poll_action();
        r.handle(Event::Acked(pod(0)), t0);
        r.handle(Event::Refused(pod(1), "refused".into()), t0);
        r.handle(Event::PodRemoved(key(1)), ms(t0, 5));
        assert!(matches!(r.poll_action(), Some(Action::ClearKey(Opened::AllAcked { .. }))));
        assert_eq!(r.poll_timeout(), None, "nothing left to resend");
    }

    #[test]
    fn a_pod_added_during_the_round_holds_the_gate_until_acked() {
        let t0 = Instant::now();
        let mut r = Round::new(4, [], t0, cfg(None));
        let _ = r.poll_action();
        r.handle(Event::PodAdded(key(9)), t0);
        assert_eq!(r.poll_action(), None, "sent only after the base");
        r.handle(Event::Acked(Participant::Base), t0);
        assert_eq!(r.poll_action(), Some(Action::InstallPods(vec![key(9)])));
        assert_eq!(r.poll_action(), None);
        r.handle(Event::Acked(pod(9)), t0);
        assert!(matches!(r.poll_action(), Some(Action::ClearKey(_))));
    }

    #[test]
    fn other_participant_kinds_are_sent_one_by_one_and_hold_the_gate() {
        let t0 = Instant::now();
        let br = Participant::Bridge("br-ext".into());
        let mut r = Round::new(5, [br.clone(), pod(0)], t0, cfg(None));
        let _ = r.poll_action();
        r.handle(Event::Acked(Participant::Base), t0);
        assert_eq!(drain(&mut r), vec![Action::Install(br.clone()), Action::InstallPods(vec![key(0)])]);
        r.handle(Event::Acked(pod(0)), t0);
        r.handle(Event::Refused(br.clone(), "br-ext.mgmt not there yet".into()), t0);
        assert_eq!(r.poll_action(), None);
        r.handle_timeout(ms(t0, 100));
        assert_eq!(r.poll_action(), Some(Action::Install(br.clone())));
        r.handle(Event::Acked(br), ms(t0, 101));
        assert!(matches!(r.poll_action(), Some(Action::ClearKey(_))));
    }

    #[test]
    fn a_refused_base_is_resent_and_nothing_else_goes_first() {
        let t0 = Instant::now();
        let mut r = Round::new(6, [pod(0)], t0, cfg(Some(Duration::from_secs(60))));
        assert_eq!(r.poll_action(), Some(Action::InstallBase));
        r.handle(Event::Refused(Participant::Base, "ports unreadable".into()), t0);
        assert_eq!(r.poll_action(), None);
        assert!(!r.replayed());
        r.handle_timeout(ms(t0, 100));
        assert_eq!(r.poll_action(), Some(Action::InstallBase), "the base again, alone");
        assert_eq!(r.poll_action(), None);
        r.handle(Event::Acked(Participant::Base), ms(t0, 101));
        assert_eq!(r.poll_action(), Some(Action::InstallPods(vec![key(0)])));
    }

    #[test]
    fn switch_loss_ends_the_round_at_once() {
        let t0 = Instant::now();
        let mut r = Round::new(8, [pod(0)], t0, cfg(None));
        let _ = r.poll_action();
        r.handle(Event::SwitchLost, t0);
        assert_eq!(drain(&mut r), vec![Action::Done(Outcome::SwitchLost)]);
        r.handle(Event::Acked(Participant::Base), t0);
        assert_eq!(r.poll_action(), None, "a finished round does nothing more");
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn a_failed_key_removal_is_retried_and_a_failed_stale_delete_is_left_for_later() {
        let t0 = Instant::now();
        let mut r = Round::new(9, [], t0, cfg(None));
        let _ = r.poll_action();
        r.handle(Event::Acked(Participant::Base), t0);
        assert!(matches!(r.poll_action(), Some(Action::ClearKey(_))));
        r.handle(Event::StepFailed("OVSDB gone".into()), t0);
        assert_eq!(r.poll_action(), None);
        let t = r.poll_timeout().unwrap();
        r.handle_timeout(t);
        assert!(matches!(r.poll_action(), Some(Action::ClearKey(_))));
        r.handle(Event::KeyCleared, t);
        assert_eq!(r.poll_action(), Some(Action::DeleteStale(9)));
        r.handle(Event::StepFailed("switch gone".into()), t);
        assert_eq!(drain(&mut r), vec![Action::Done(Outcome::Complete { stale_kept: true })]);
    }

    #[test]
    fn the_fault_knob_removes_the_key_before_anything_is_installed() {
        let t0 = Instant::now();
        let mut r = Round::new(10, [pod(0)], t0, RoundConfig { clear_key_early: true, ..cfg(None) });
        assert_eq!(r.poll_action(), Some(Action::ClearKeyEarly));
        assert_eq!(r.poll_action(), Some(Action::InstallBase));
    }
}
