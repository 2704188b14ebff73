//! `kinship indicators`: check the indicator sets, and re-evaluate every person's indicators
//! (windows move on as days pass, so a hub refreshes them daily; `serve` does it itself).

use std::time::Instant;

use clap::Subcommand;

use super::{CliError, ConfigArgs, hub};

#[derive(Debug, Subcommand)]
pub enum IndicatorsCommand {
    /// Load the built-in set and `protocols/indicators/*.toml`, check them, and list each
    /// set's criteria and indicators.
    Check {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Re-evaluate every person's indicators from their facts and store the ones that hold.
    Refresh {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

pub async fn run(command: IndicatorsCommand) -> Result<(), CliError> {
    match command {
        IndicatorsCommand::Check { config } => {
            let config = crate::config::Config::load(config.config.as_deref())?;
            let sets = hub::load_indicators(&config).await?;
            for set in sets.iter() {
                let from = set
                    .path
                    .as_ref()
                    .map_or_else(|| "built in".to_owned(), |p| p.display().to_string());
                println!("{} {} ({from}): {}", set.id, set.version, set.title);
                for (id, title) in &set.criteria {
                    let indicators: Vec<&str> = set
                        .indicators
                        .iter()
                        .filter(|i| i.criterion == *id)
                        .map(|i| i.id.as_str())
                        .collect();
                    let listed = if indicators.is_empty() {
                        "no indicator yet".to_owned()
                    } else {
                        indicators.join(", ")
                    };
                    println!("  {id}: {title} — {listed}");
                }
            }
            Ok(())
        }
        IndicatorsCommand::Refresh { config } => {
            let config = crate::config::Config::load(config.config.as_deref())?;
            config.validate_store()?;
            let sets = hub::load_indicators(&config).await?;
            let store = hub::open_store(&config).await?;
            let started = Instant::now();
            let bar = indicatif::ProgressBar::new_spinner();
            let (persons, hits) =
                crate::store::indicators::refresh_all(&store, &sets, chrono::Utc::now(), |done| {
                    bar.set_message(format!("{done} persons evaluated"))
                })
                .await?;
            bar.finish_and_clear();
            eprintln!(
                "indicators refresh: {persons} persons evaluated, {hits} indicators hold; {:.2} s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}
