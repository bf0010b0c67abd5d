//! `neuromapper info` (SKELETON: to be implemented).

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`info` is not implemented yet")
}
