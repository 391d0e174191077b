//! Security events on their way out of the gateway.

// Until the event queue that feeds the sinks is wired, nothing outside
// the sinks' own tests calls them.
#[allow(dead_code, unused_imports)]
pub(crate) mod sinks;
