//! The bundle transaction: OPEN → ADD×N (pipelined, encoded into large
//! buffers) → BARRIER → DISCARD if any ADD drew an error (errors mapped
//! back to the index of the message that caused it) → else COMMIT, done
//! only when the COMMIT reply arrives.
//!
//! [`Session::open_bundle`] is the same transaction filled message by
//! message ([`BundleStream`]): ADDs leave in chunks while the caller is
//! still producing the next ones, so the switch works in parallel.
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

        let txn = self.open_txn(id, flags, first, n).await?;
        let result = async {
            for c in chunks {
                self.send_bytes(c).await?;
            }
            self.close_and_commit(id, flags, txn, n).await
        }
        .await;
        let _ = self.cmd(Cmd::CloseTxn(txn));
        result
    }

    /// Opens bundle `id` and registers its transaction (ADDs with xids
    /// `first..first + n`).
    async fn open_txn(&self, id: u32, flags: u16, first: u32, n: u32) -> Result<TxnId, BundleError> {
        let open_xid = self.next_xid();
        let open = ctrl_msg(id, BundleCtrlType::OPEN_REQUEST, flags).encode(open_xid).map_err(|e| OfError::Caller(e.to_string()))?;
        let (res, _) = self.call(open_xid, open.freeze(), Request::new("BUNDLE_CONTROL(OPEN)")).await;
        expect_ctrl(res, id, BundleCtrlType::OPEN_REPLY)?;
        let txn = TxnId(u64::from(id));
        self.cmd(Cmd::OpenTxn { id: txn, open_xid, first_add: first, n_adds: n })?;
        Ok(txn)
    }

    /// Opens a bundle with `flags` to be filled message by message
    /// ([`BundleStream::add`]) and then committed or discarded. Up to
    /// [`MAX_STREAMED`] messages; their xids are reserved at once.
    pub async fn open_bundle(&self, flags: u16) -> Result<BundleStream<'_>, BundleError> {
        let id = self.next_bundle_id();
        let first = self.xid_block(MAX_STREAMED);
        let txn = self.open_txn(id, flags, first, MAX_STREAMED).await?;
        Ok(BundleStream { s: self, id, flags, txn, first, n: 0, cur: BytesMut::with_capacity(CHUNK + 4096), open: true })
    }

    /// After the ADDs were sent: BARRIER, then DISCARD on any error, else
    /// COMMIT and its reply.
    async fn close_and_commit(&self, id: u32, flags: u16, txn: TxnId, n: u32) -> Result<(), BundleError> {
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

/// Messages a [`BundleStream`] takes at most (the xids reserved for its ADDs).
pub const MAX_STREAMED: u32 = 1 << 24;

/// An open bundle being filled ([`Session::open_bundle`]). Messages are
/// encoded into chunks of about 256 KiB that leave as soon as they are full,
/// so the switch takes them while the caller produces the rest. Ends with
/// [`BundleStream::commit`] or [`BundleStream::discard`]; dropped
/// unfinished, it asks the switch to discard the bundle (and the switch
/// discards it anyway when the connection closes): nothing is applied
/// without a commit.
#[derive(Debug)]
pub struct BundleStream<'a> {
    s: &'a Session,
    id: u32,
    flags: u16,
    txn: TxnId,
    first: u32,
    n: u32,
    cur: BytesMut,
    open: bool,
}

impl BundleStream<'_> {
    /// Messages added so far; the next one gets this index in errors
    /// ([`MessageError::index`]).
    pub fn len(&self) -> usize {
        self.n as usize
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Adds `m` (FLOW_MOD, GROUP_MOD, PORT_MOD or PACKET_OUT); waits only
    /// when a full chunk finds no room in the write queue. A message that
    /// cannot be encoded is not added (the bundle stays usable).
    pub async fn add(&mut self, m: &Message) -> Result<(), BundleError> {
        let i = self.n;
        if !bundlable(m) {
            return Err(OfError::Caller(format!("message {i} is a {}; only FLOW_MOD, GROUP_MOD, PORT_MOD and PACKET_OUT can be bundled", m.name())).into());
        }
        if i >= MAX_STREAMED {
            return Err(OfError::Caller(format!("more than {MAX_STREAMED} messages for one bundle")).into());
        }
        let xid = self.first.wrapping_add(i);
        let inner = m.encode(xid).map_err(|e| OfError::Caller(format!("cannot encode message {i} ({}): {e}", m.name())))?;
        let mark = self.cur.len();
        let add = Message::BundleAdd(BundleAdd { bundle_id: self.id, flags: self.flags, message: inner.to_vec() });
        if let Err(e) = add.encode_into(xid, &mut self.cur) {
            self.cur.truncate(mark);
            return Err(OfError::Caller(format!("cannot encode message {i} in a bundle: {e}")).into());
        }
        self.n += 1;
        if self.cur.len() >= CHUNK {
            self.flush().await?;
            // Let the session's tasks take the chunk now even when this
            // task would go on producing without ever waiting.
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), BundleError> {
        if !self.cur.is_empty() {
            let chunk = self.cur.split().freeze();
            self.s.send_bytes(chunk).await?;
        }
        Ok(())
    }

    /// Sends what is left, then BARRIER and COMMIT: Ok once the switch
    /// has committed. Errors as for [`Session::bundle`]; on any refusal
    /// nothing is applied.
    pub async fn commit(mut self) -> Result<(), BundleError> {
        let r = async {
            self.flush().await?;
            self.s.close_and_commit(self.id, self.flags, self.txn, self.n).await
        }
        .await;
        self.open = false;
        let _ = self.s.cmd(Cmd::CloseTxn(self.txn));
        r
    }

    /// Drops the bundle on the switch (DISCARD and its reply): nothing
    /// added so far is applied. When the connection is lost instead, the
    /// switch discards the bundle itself.
    pub async fn discard(mut self) -> Result<(), BundleError> {
        self.open = false;
        let _ = self.s.cmd(Cmd::CloseTxn(self.txn));
        self.s.request(ctrl_msg(self.id, BundleCtrlType::DISCARD_REQUEST, self.flags)).await?;
        Ok(())
    }
}

impl Drop for BundleStream<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.s.send(&ctrl_msg(self.id, BundleCtrlType::DISCARD_REQUEST, self.flags));
            let _ = self.s.cmd(Cmd::CloseTxn(self.txn));
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
