//! Reading the server's `/metrics` (Prometheus text) and `/health`.

use std::collections::HashMap;
use std::time::Duration;

use starforge_shared::http;

/// Samples of one `/metrics` scrape: `name{labels}` (exactly as written) → value.
#[derive(Debug, Default, Clone)]
pub struct Scrape(pub HashMap<String, f64>);

impl Scrape {
    /// Parses the text format: comment lines are skipped, a sample line is
    /// `name{labels} value [timestamp]`; lines that do not parse are ignored.
    pub fn parse(text: &str) -> Scrape {
        let mut map = HashMap::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, rest) = match line.find('}') {
                Some(i) if line[..i].contains('{') => (&line[..=i], &line[i + 1..]),
                _ => match line.split_once(char::is_whitespace) {
                    Some((k, r)) => (k, r),
                    None => continue,
                },
            };
            let Some(v) = rest.split_whitespace().next() else { continue };
            let v = match v {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => match v.parse::<f64>() {
                    Ok(v) => v,
                    Err(_) => continue,
                },
            };
            map.insert(key.trim().to_owned(), v);
        }
        Scrape(map)
    }

    /// One sample, e.g. `get("starforge_tick_seconds_window{quantile=\"0.99\"}")`.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.0.get(key).copied().filter(|v| v.is_finite())
    }

    /// Tick time quantile `q` (as written in the label, e.g. `"0.5"`) in milliseconds.
    pub fn tick_ms(&self, q: &str) -> Option<f64> {
        self.get(&format!("starforge_tick_seconds_window{{quantile=\"{q}\"}}")).map(|s| s * 1000.0)
    }
}

/// Scrapes `GET /metrics`.
pub fn scrape(server: &str) -> Result<Scrape, String> {
    let r = http::request_url("GET", server, "/metrics", None, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    if r.status != 200 {
        return Err(format!("GET /metrics answered {}", r.status));
    }
    Ok(Scrape::parse(&r.text()))
}

/// `GET /health`: `Ok(status, body)` when the server answered at all.
pub fn health(server: &str) -> Result<(u16, String), http::HttpError> {
    let r = http::request_url("GET", server, "/health", None, Duration::from_secs(5))?;
    Ok((r.status, r.text()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labelled_and_plain_samples() {
        let s = Scrape::parse(
            "# HELP x y\n# TYPE x gauge\nstarforge_tick_seconds_window{quantile=\"0.5\"} 0.0015\n\
             starforge_snapshot_bytes_total 1234\nstarforge_tick 7 1700000000\nbad line\nx{a=\"b c\"} NaN\n",
        );
        assert_eq!(s.tick_ms("0.5"), Some(1.5));
        assert_eq!(s.get("starforge_snapshot_bytes_total"), Some(1234.0));
        assert_eq!(s.get("starforge_tick"), Some(7.0));
        assert_eq!(s.get("x{a=\"b c\"}"), None, "NaN is no value");
        assert_eq!(s.tick_ms("0.99"), None);
    }
}
