//! `vod lidar ...`: tools for SICK scanner data, such as decoding a recorded session.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use vod_lidar::cola::Response;
use vod_lidar::recording::{Recording, ScanJson};

use crate::EX_USAGE;

/// Exit code when the input holds telegrams that do not decode (sysexits EX_DATAERR).
const EX_DATAERR: u8 = 65;

#[derive(Debug, Subcommand)]
pub enum LidarCommand {
    /// Decodes the scans of a sick_scan_xd pcapng.json export (a Wireshark JSON export of one
    /// scanner session) and prints one line per scan; telegrams that do not decode are
    /// reported on stderr and make the exit code 65.
    Decode(DecodeArgs),
}

#[derive(Debug, Args)]
pub struct DecodeArgs {
    file: PathBuf,
    /// One JSON object per scan: scan_counter, telegram_counter, time_since_power_up_us,
    /// scan_frequency_hz and channels (name, scale, offset, start_angle_deg, step_deg, values
    /// as the raw integers sent).
    #[arg(long)]
    json: bool,
}

pub fn main(command: LidarCommand) -> ExitCode {
    let LidarCommand::Decode(args) = command;
    let recording = match Recording::load(&args.file) {
        Ok(recording) => recording,
        Err(error) => {
            eprintln!("{}: {error}", args.file.display());
            return ExitCode::from(EX_USAGE);
        }
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut bad_telegrams = 0usize;
    for (index, telegram) in recording.telegrams().into_iter().enumerate() {
        let written = match telegram.telegram {
            Ok(Response::ScanData(scan)) => {
                write_scan(&mut out, &ScanJson::from(&*scan), args.json)
            }
            Ok(_) => Ok(()),
            Err(error) => {
                bad_telegrams += 1;
                eprintln!(
                    "{}: telegram {index} at {:.6} s: {error}",
                    args.file.display(),
                    telegram.at.as_secs_f64()
                );
                Ok(())
            }
        };
        if let Err(error) = written {
            // Most likely a closed pipe (`| head`): nothing more to say to anyone.
            eprintln!("cannot write to stdout: {error}");
            return ExitCode::FAILURE;
        }
    }
    if let Err(error) = out.flush() {
        eprintln!("cannot write to stdout: {error}");
        return ExitCode::FAILURE;
    }
    if bad_telegrams > 0 {
        return ExitCode::from(EX_DATAERR);
    }
    ExitCode::SUCCESS
}

fn write_scan(out: &mut impl Write, scan: &ScanJson, json: bool) -> std::io::Result<()> {
    if json {
        serde_json::to_writer(&mut *out, scan)?;
        return writeln!(out);
    }
    write!(
        out,
        "scan {} telegram {} at {} us, {} Hz:",
        scan.scan_counter,
        scan.telegram_counter,
        scan.time_since_power_up_us,
        scan.scan_frequency_hz
    )?;
    for channel in &scan.channels {
        write!(
            out,
            " {} {} values from {} deg by {} deg",
            channel.name,
            channel.values.len(),
            channel.start_angle_deg,
            channel.step_deg
        )?;
    }
    writeln!(out)
}
