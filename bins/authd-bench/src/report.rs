//! The results: figures next to their limits, the targets they are judged by, and the markdown
//! table written to the terminal and, on request, into docs/benchmarks.md.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

/// Where the generated part of the document starts and ends.
const BEGIN_MARK: &str = "<!-- authd-bench results: begin -->";
const END_MARK: &str = "<!-- authd-bench results: end -->";

/// What a figure is compared with.
pub struct Limit {
    /// How the limit was measured.
    pub name: String,
    /// Its rate, per second.
    pub rate: f64,
    /// Its latency percentiles in ms, when it has them.
    pub p50_p99: Option<(f64, f64)>,
}

/// One measured load.
pub struct Row {
    /// What was run.
    pub workload: String,
    /// Concurrent connections.
    pub clients: usize,
    /// Requests per second.
    pub rate: f64,
    /// Median latency, ms.
    pub p50: f64,
    /// 99th percentile latency, ms.
    pub p99: f64,
    /// The limit, when there is one.
    pub limit: Option<Limit>,
    /// Server's resident memory at its highest during the run, KiB.
    pub peak_rss_kib: u64,
    /// CPU per request over the window, µs: (authd, PostgreSQL).
    pub cpu_per_request_us: (f64, f64),
    /// Failed requests.
    pub errors: u64,
}

impl Row {
    /// The rate as a share of its limit.
    pub fn ratio(&self) -> Option<f64> {
        self.limit.as_ref().filter(|l| l.rate > 0.0).map(|l| self.rate / l.rate)
    }
}

/// One target and whether it was met.
pub struct Verdict {
    /// What is required.
    pub target: String,
    /// What was measured.
    pub measured: String,
    /// Whether the requirement holds.
    pub met: bool,
}

/// The results of one backend.
pub struct BackendReport {
    /// `PostgreSQL` or `SQLite`.
    pub name: &'static str,
    /// The loads.
    pub rows: Vec<Row>,
    /// Other figures: name, value, and the limit with its ratio when there is one.
    pub facts: Vec<(String, String, String)>,
    /// Targets checked on this backend.
    pub verdicts: Vec<Verdict>,
    /// Error messages seen, for the reader to diagnose.
    pub error_samples: Vec<String>,
    /// The peer's rows (Better Auth, PostgreSQL only), matched to authd's by load and clients.
    pub peer: Vec<Row>,
}

/// Everything the run measured and where.
pub struct Report {
    /// Commit and machine, one line each.
    pub context: Vec<String>,
    /// Per backend.
    pub backends: Vec<BackendReport>,
}

impl Report {
    /// Whether every target of every backend was met.
    pub fn all_met(&self) -> bool {
        self.backends.iter().all(|b| b.verdicts.iter().all(|v| v.met))
    }

    /// The markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for line in &self.context {
            let _ = writeln!(out, "- {line}");
        }
        for backend in &self.backends {
            let _ = writeln!(out, "\n### {}\n", backend.name);
            let _ = writeln!(
                out,
                "| load | clients | req/s | p50 ms | p99 ms | limit | limit/s | limit p50/p99 ms | ratio | authd CPU µs/req | PostgreSQL CPU µs/req | peak RSS MiB | errors |"
            );
            let _ = writeln!(
                out,
                "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
            );
            for row in &backend.rows {
                let (limit, limit_rate, limit_latency) = match &row.limit {
                    Some(l) => (
                        l.name.clone(),
                        format!("{:.1}", l.rate),
                        l.p50_p99.map(|(a, b)| format!("{a:.2} / {b:.2}")).unwrap_or_else(|| "-".into()),
                    ),
                    None => ("-".into(), "-".into(), "-".into()),
                };
                let ratio = row.ratio().map(|r| format!("{:.0}%", r * 100.0)).unwrap_or_else(|| "-".into());
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.1} | {:.2} | {:.2} | {} | {} | {} | {} | {:.0} | {:.0} | {:.1} | {} |",
                    row.workload,
                    row.clients,
                    row.rate,
                    row.p50,
                    row.p99,
                    limit,
                    limit_rate,
                    limit_latency,
                    ratio,
                    row.cpu_per_request_us.0,
                    row.cpu_per_request_us.1,
                    mib(row.peak_rss_kib),
                    row.errors
                );
            }
            if !backend.peer.is_empty() {
                let _ = writeln!(
                    out,
                    "\n| load (peer: Better Auth) | clients | authd req/s | peer req/s | authd ÷ peer | authd CPU µs/req | peer CPU µs/req | PostgreSQL CPU µs/req, authd / peer |"
                );
                let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
                for peer in &backend.peer {
                    let ours = backend.rows.iter().find(|r| r.workload == peer.workload && r.clients == peer.clients);
                    let Some(ours) = ours else { continue };
                    let _ = writeln!(
                        out,
                        "| {} | {} | {:.1} | {:.1} | {:.1}× | {:.0} | {:.0} | {:.0} / {:.0} |",
                        peer.workload,
                        peer.clients,
                        ours.rate,
                        peer.rate,
                        ours.rate / peer.rate.max(f64::MIN_POSITIVE),
                        ours.cpu_per_request_us.0,
                        peer.cpu_per_request_us.0,
                        ours.cpu_per_request_us.1,
                        peer.cpu_per_request_us.1
                    );
                }
            }
            let _ = writeln!(out, "\n| figure | value | limit (ratio) |\n| --- | ---: | --- |");
            for (name, value, limit) in &backend.facts {
                let _ = writeln!(out, "| {name} | {value} | {limit} |");
            }
            let _ = writeln!(out, "\n| target | measured | met |\n| --- | --- | --- |");
            for verdict in &backend.verdicts {
                let met = if verdict.met { "yes" } else { "**no**" };
                let _ = writeln!(out, "| {} | {} | {met} |", verdict.target, verdict.measured);
            }
            if !backend.error_samples.is_empty() {
                let _ = writeln!(out, "\nErrors seen:\n");
                for sample in &backend.error_samples {
                    let _ = writeln!(out, "- `{}`", sample.replace('`', "'").replace('\n', " "));
                }
            }
        }
        out
    }

    /// Replaces the generated part of `doc` (between its markers) with this report.
    pub fn write_into(&self, doc: &Path) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(doc).with_context(|| format!("cannot read {}", doc.display()))?;
        let (Some(begin), Some(end)) = (text.find(BEGIN_MARK), text.find(END_MARK)) else {
            anyhow::bail!("{} has no `{BEGIN_MARK}` … `{END_MARK}` section", doc.display());
        };
        let updated = format!("{}{BEGIN_MARK}\n\n{}\n{}", &text[..begin], self.markdown(), &text[end..]);
        std::fs::write(doc, updated).with_context(|| format!("cannot write {}", doc.display()))
    }
}

/// KiB as MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
