//! Test kit for the workspace's test suites (a dev-dependency only, never a normal one): temp
//! folders that remove themselves ([`TempDir`]) and synthetic runs written through
//! [`nm_run::RunWriter`] ([`RunSpec`] describes one, [`TestRun`] is the run on disk).
//!
//! The activations are clustered: each class owns the coordinates `j` with `j % classes == class`,
//! sitting `separation` away from the others there, plus uniform noise, so embeddings of a
//! synthetic run have structure that quality thresholds can check. Everything is deterministic in
//! the seed: the same spec writes the same bytes.
//!
//! ```
//! use nm_testkit::{Predictions, RunSpec, TempDir};
//! let tmp = TempDir::new("doc");
//! let run = RunSpec::new(30, 3).layers(&[("fc", 8)]).epochs(&[1, 2]).predictions(Predictions::improving())
//!     .write(&tmp.join("run"));
//! let opened = run.open();
//! assert_eq!((opened.n_samples(), opened.epochs()), (30, &[1, 2][..]));
//! assert!(opened.predictions(2).unwrap().is_some());
//! let path = tmp.path().to_path_buf();
//! drop(tmp);
//! assert!(!path.exists(), "the folder removes itself");
//! ```

mod data;
mod run;
mod temp;

pub use data::{clustered, Rng};
pub use run::{Dtype, Predictions, RunSpec, TestRun};
pub use temp::TempDir;
