//! The bundle transaction: OPEN → ADD×N (pipelined, encoded into large
//! buffers) → BARRIER → DISCARD if any ADD drew an error (errors mapped
//! back to the index of the message that caused it) → else COMMIT, done
//! only when the COMMIT reply arrives.
//!
//! Owns the bundle protocol and bundle ids (unique per session, never
//! re-opened, because re-opening a live id makes Open vSwitch delete that
//! bundle). Never retries a commit whose outcome is unknown: the caller
//! must read the switch's state.

use super::core::{Request, TxnId, TxnReport};
use super::error::{BundleError, MessageError, OfError};
use super::session::{Cmd, Session};
use bytes::BytesMut;
use podflow_proto::openflow::bundle::{BundleAdd, BundleControl, BundleCtrlType};
use podflow_proto::openflow::error::{bundle_codes, types as err_types};
use podflow_proto::openflow::message::Message;

pub use podflow_proto::openflow::bundle::flags;

/// Bytes of encoded ADD messages handed to the writer at a time.
const CHUNK: usize = 256 * 1024;

fn bundlable(m: &Message) -> bool {
    matches!(m, Message::FlowMod(_) | Message::GroupMod(_) | Message::PortMod(_) | Message::PacketOut(_))
}

impl Session {
    /// Applies `msgs` as one bundle with `flags` (e.g.
    /// [`flags::ATOMIC`]` | `[`flags::ORDERED`]). Returns when the switch
    /// has committed it; on any refusal nothing is applied.
    pub async fn bundle(&self, msgs: &[Message], flags: u16) -> Result<(), BundleError> {
        if let Some((i, m)) = msgs.iter().enumerate().find(|(_, m)| !bundlable(m)) {
            return Err(OfError::Caller(format!("message {i} is a {}; only FLOW_MOD, GROUP_MOD, PORT_MOD and PACKET_OUT can be bundled", m.name())).into());
        }
        let n = u32::try_from(msgs.len()).map_err(|_| OfError::Caller("too many messages for one bundle".into()))?;
        // Encode everything before opening, so a message we cannot encode
        // never leaves a half-filled bundle behind.
        let id = self.next_bundle_id();
        let first = self.xid_block(n.max(1));
        let mut chunks = Vec::new();
        let mut cur = BytesMut::with_capacity(CHUNK + 4096);
        for (i, m) in msgs.iter().enumerate() {
            let xid = first.wrapping_add(i as u32);
            let inner = m.encode(xid).map_err(|e| OfError::Caller(format!("cannot encode message {i} ({}): {e}", m.name())))?;
            let add = Message::BundleAdd(BundleAdd { bundle_id: id, flags, message: inner.to_vec() });
            add.encode_into(xid, &mut cur).map_err(|e| OfError::Caller(format!("cannot encode message {i} in a bundle: {e}")))?;
            if cur.len() >= CHUNK {
                chunks.push(cur.split().freeze());
            }
        }
        if !cur.is_empty() {
            chunks.push(cur.freeze());
        }

        let ctrl = |t| Message::BundleControl(BundleControl::new(id, t, flags));
        let open_xid = self.next_xid();
        let open = ctrl(BundleCtrlType::OPEN_REQUEST).encode(open_xid).map_err(|e| OfError::Caller(e.to_string()))?;
        let (res, _) = self.call(open_xid, open.freeze(), Request::new("BUNDLE_CONTROL(OPEN)")).await;
        expect_ctrl(res, id, BundleCtrlType::OPEN_REPLY)?;

        let txn = TxnId(u64::from(id));
        self.cmd(Cmd::OpenTxn { id: txn, open_xid, first_add: first, n_adds: n })?;
        let result = self.fill_and_commit(id, flags, txn, chunks, n).await;
        let _ = self.cmd(Cmd::CloseTxn(txn));
        result
    }

    async fn fill_and_commit(&self, id: u32, flags: u16, txn: TxnId, chunks: Vec<bytes::Bytes>, n: u32) -> Result<(), BundleError> {
        for c in chunks {
            self.send_bytes(c).await?;
        }
        let extra = self.config().per_bundled_message * n;
        let timeout = Some(self.config().timing.request_timeout + extra);
        let (res, report) = self
            .request_with(&Message::BarrierRequest, Request { timeout, txn: Some(txn), ..Request::new("BARRIER_REQUEST after the bundled messages") })
            .await;
        let report = report.unwrap_or_default();
        if let Err(e) = res {
            if !e.is_disconnected() {
                // The bundle may still be open on the switch: drop it.
                let _ = self.send(&ctrl_msg(id, BundleCtrlType::DISCARD_REQUEST, flags));
            }
            return Err(e.into());
        }
        if !report.add_errors.is_empty() || report.async_error.is_some() {
            // Best effort: the bundle may already be gone (expired), and the
            // connection closing discards it anyway.
            let _ = self.request(ctrl_msg(id, BundleCtrlType::DISCARD_REQUEST, flags)).await;
            return Err(rejected(report));
        }
        let (res, report) = self
            .request_with(
                &ctrl_msg(id, BundleCtrlType::COMMIT_REQUEST, flags),
                Request { timeout, txn: Some(txn), unknown_if_lost: true, ..Request::new("BUNDLE_CONTROL(COMMIT)") },
            )
            .await;
        let mut report = report.unwrap_or_default();
        match res {
            Ok(reply) => expect_ctrl(Ok(reply), id, BundleCtrlType::COMMIT_REPLY),
            Err(OfError::Refused { error, .. }) => {
                if let Some(a) = report.async_error.take() {
                    if error.is(err_types::BUNDLE_FAILED, bundle_codes::BAD_ID) {
                        return Err(BundleError::Expired { error: a });
                    }
                }
                report.add_errors.sort_by_key(|e| e.index);
                Err(BundleError::CommitFailed { error, culprits: report.add_errors })
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn ctrl_msg(id: u32, t: BundleCtrlType, flags: u16) -> Message {
    Message::BundleControl(BundleControl::new(id, t, flags))
}

fn rejected(mut report: TxnReport) -> BundleError {
    if report.add_errors.is_empty() {
        if let Some(error) = report.async_error {
            return BundleError::Expired { error };
        }
    }
    report.add_errors.sort_by_key(|e: &MessageError| e.index);
    BundleError::Rejected { errors: report.add_errors }
}

fn expect_ctrl(reply: Result<super::core::Reply, OfError>, id: u32, want: BundleCtrlType) -> Result<(), BundleError> {
    match reply? {
        super::core::Reply::Message(Message::BundleControl(c)) if c.bundle_id == id && c.ctrl_type == want => Ok(()),
        super::core::Reply::Message(m) => Err(OfError::protocol(format!("{} answered a bundle request instead of {}", m.name(), want.name())).into()),
        super::core::Reply::Multipart(_) => Err(OfError::protocol("a multipart reply answered a bundle request").into()),
    }
}
