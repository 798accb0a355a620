//! The CNI plugin `podflow-cni` (CNI spec 1.0.0, plus STATUS from 1.1):
//! reads the runtime's environment and network configuration, delegates
//! IP address management to the configured IPAM plugin, and asks the agent
//! to plumb the pod. It holds no state of its own and never talks to Open
//! vSwitch directly.

pub mod ipam;
pub mod lock;
pub mod plugin;
pub mod runtime;
pub mod types;
