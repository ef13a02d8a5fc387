//! Faultline's reports: static HTML pages a reviewer opens from disk.
//!
//! Layout:
//! - [`page`]: a run's `report.html` (summary, plots with the fault windows,
//!   the timeline, and the explanation of each invalid key);
//! - [`health`]: the system's failures beyond its history (a panic, a
//!   node that will not come back, a cluster that serves nothing);
//! - [`index`]: `results/index.html`, every run under a folder;
//! - [`run_dir`]: a run folder's records as typed structs (`test.json`,
//!   what summaries read of `results.json`);
//! - [`summary`]: `summary.json` and its table for a folder of runs;
//! - [`txn`]: the page of a transaction check, each cycle drawn.

pub mod health;
pub mod index;
pub mod page;
pub mod run_dir;
pub mod summary;
pub mod txn;

pub use page::render;
