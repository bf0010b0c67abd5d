//! `neuromapper export` (SKELETON: to be implemented).

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`export` is not implemented yet")
}
