//! Async OVSDB client (tokio).
