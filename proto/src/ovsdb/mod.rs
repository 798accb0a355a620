//! OVSDB (RFC 7047): JSON-RPC framing, data model, operations, monitors.
