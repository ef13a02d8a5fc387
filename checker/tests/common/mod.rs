//! Helpers shared by the checker's integration tests.

#![allow(dead_code)]

pub mod browser;
