//! `breakglass redact [--config F --service S]`: stdin to stdout through
//! exactly the redactor the gateway runs, so a policy author can try a
//! pattern on real lines before deploying it.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use super::{CliError, CliResult, EXIT_FAILURE, EXIT_NOT_FOUND};
use crate::gateway::config::GatewayConfig;
use crate::redact::{Redactor, RedactorConfig};

pub fn run(config: Option<&Path>, service: Option<&str>) -> CliResult {
    let settings = match (config, service) {
        (Some(path), Some(name)) => service_settings(path, name)?,
        _ => RedactorConfig::default(),
    };
    let redactor =
        Redactor::new(&settings).map_err(|e| CliError::new(EXIT_FAILURE, e.to_string()))?;
    let stdin = std::io::stdin().lock();
    let stdout = std::io::stdout().lock();
    redact_stream(&redactor, stdin, stdout)
        .map_err(|e| CliError::new(EXIT_FAILURE, format!("redact: {e}")))
}

fn service_settings(path: &Path, name: &str) -> Result<RedactorConfig, CliError> {
    let cfg = GatewayConfig::load(path).map_err(|e| CliError::new(EXIT_FAILURE, e.to_string()))?;
    match cfg.sources.get(name) {
        Some(s) => Ok(s.redact.clone()),
        None => {
            let known: Vec<&str> = cfg.sources.keys().map(String::as_str).collect();
            Err(CliError::new(
                EXIT_NOT_FOUND,
                format!(
                    "{}: no service `{name}`; it has {}",
                    path.display(),
                    known.join(", ")
                ),
            ))
        }
    }
}

/// Line by line (bytes that are not UTF-8 are replaced, as the gateway's
/// sources do), keeping each line's ending.
fn redact_stream(
    redactor: &Redactor,
    mut input: impl BufRead,
    output: impl Write,
) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(256 * 1024, output);
    let mut raw = Vec::new();
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        let ending = if raw.ends_with(b"\r\n") {
            2
        } else {
            usize::from(raw.ends_with(b"\n"))
        };
        let (body, end) = raw.split_at(raw.len() - ending);
        let text = String::from_utf8_lossy(body);
        out.write_all(redactor.redact(&text).as_bytes())?;
        out.write_all(end)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_out_redacted_with_their_endings() {
        let input = b"user=jane@example.com ok\r\nplain\nlast password=hunter2";
        let mut out = Vec::new();
        redact_stream(&Redactor::default(), &input[..], &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "user=[REDACTED:email] ok\r\nplain\nlast password=[REDACTED:secret]"
        );
    }
}
