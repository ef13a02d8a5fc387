//! Faultline's reports: static HTML pages a reviewer opens from disk.
//!
//! Layout:
//! - [`page`]: a run's `report.html` (summary, plots with the fault windows,
//!   the timeline, and the explanation of each invalid key);
//! - [`index`]: `results/index.html`, every run under a folder.

pub mod index;
pub mod page;

pub use page::render;
