//! Data entities of the `template` workflow project.

pub mod request;
pub mod request_item;
