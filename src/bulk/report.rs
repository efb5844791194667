//! Reports: a text summary, one self-contained HTML page and JSON (a record
//! per package), written to the bulk directory next to the logs they link
//! to; `explain` and `history` read the same rows.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Result, bail};
use pkgdb::{BulkPackage, BulkQueries as _};
use serde::Serialize;

use super::Bulk;
use super::build::{STATUSES, Verdict, dependency_names, verdict};
use crate::build::BuildSettings;

/// One package in the JSON report.
#[derive(Debug, Serialize)]
struct Record<'a> {
    pkgpath: &'a str,
    pkgname: &'a str,
    status: &'a str,
    cause: Option<&'a str>,
    reason: Option<&'a str>,
    make_jobs: Option<i64>,
    duration: Option<f64>,
    log: Option<String>,
    /// The node it was built on (multi-machine bulks).
    node: Option<&'a str>,
}

/// What one node of a multi-machine bulk did.
struct NodeUse {
    name: String,
    slots: usize,
    builds: usize,
    busy: f64,
    utilisation: f64,
}

/// Per node: builds, busy seconds (their wall times added), utilisation
/// (busy over slots × the build phase's wall time).
fn node_use(bulk: &Bulk, packages: &[BulkPackage]) -> Result<Vec<NodeUse>> {
    let db = bulk.read()?;
    let listed = db.bulk_meta("nodes")?.unwrap_or_default();
    let wall: f64 = db
        .bulk_meta("wall")?
        .and_then(|w| w.parse().ok())
        .unwrap_or(0.0);
    Ok(listed
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(slots, name)| {
            let slots: usize = slots.parse().unwrap_or(1);
            let ran: Vec<&BulkPackage> = packages
                .iter()
                .filter(|p| p.node.as_deref() == Some(name))
                .collect();
            let busy = ran
                .iter()
                .filter_map(|p| p.duration)
                .fold(0.0, |a, b| a + b);
            NodeUse {
                name: name.to_owned(),
                slots,
                builds: ran.len(),
                busy,
                utilisation: if wall > 0.0 {
                    busy / (slots as f64 * wall)
                } else {
                    0.0
                },
            }
        })
        .collect())
}

/// The log a report links: the failed phase's, or the last phase's that ran
/// (then depot's own output).
fn log_link(bulk: &Bulk, p: &BulkPackage) -> Option<String> {
    let dir = bulk.log_dir(&p.pkgname);
    let failed = p
        .reason
        .as_deref()
        .and_then(|r| r.split_once(':'))
        .map(|(phase, _)| phase.to_owned());
    let name = failed
        .into_iter()
        .chain(crate::build::PHASES.iter().rev().map(|ph| (*ph).to_owned()))
        .map(|phase| format!("{phase}.log"))
        .chain(["depot.log".to_owned()])
        .find(|name| dir.join(name).is_file())?;
    Some(format!("logs/{}/{name}", p.pkgname))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The failed packages, with how many others each took down, most first.
fn offenders(packages: &[BulkPackage]) -> Vec<(&BulkPackage, usize)> {
    let mut broke: BTreeMap<&str, usize> = BTreeMap::new();
    for p in packages {
        if let Some(cause) = &p.cause {
            *broke.entry(cause.as_str()).or_default() += 1;
        }
    }
    let mut out: Vec<(&BulkPackage, usize)> = packages
        .iter()
        .filter(|p| matches!(p.status.as_deref(), Some("failed" | "prefailed")))
        .map(|p| (p, broke.get(p.pkgname.as_str()).copied().unwrap_or(0)))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.pkgpath.cmp(&b.0.pkgpath)));
    out
}

/// Write the reports of the last build; print the text one.
pub fn run(bulk: &Bulk) -> Result<()> {
    let packages = bulk.packages()?;
    if packages.iter().all(|p| p.status.is_none()) {
        bail!("no bulk build to report on: run `depot bulk build` first");
    }
    fs_err::create_dir_all(&bulk.dir)?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &packages {
        *counts
            .entry(p.status.as_deref().unwrap_or("not built"))
            .or_default() += 1;
    }
    let mut text = String::new();
    let _ = writeln!(text, "bulk build of {} packages", packages.len());
    for status in STATUSES.iter().copied().chain(["not built"]) {
        if let Some(n) = counts.get(status) {
            let _ = writeln!(text, "  {status:<20} {n}");
        }
    }
    let offenders = offenders(&packages);
    if !offenders.is_empty() {
        let _ = writeln!(text, "\nfailures, by how many packages they broke:");
        for (p, broke) in &offenders {
            let _ = writeln!(
                text,
                "  {:<30} {:<10} breaks {broke:<4} {}",
                p.pkgname,
                p.status.as_deref().unwrap_or_default(),
                p.reason
                    .as_deref()
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or_default()
            );
        }
    }
    let nodes = node_use(bulk, &packages)?;
    if !nodes.is_empty() {
        let _ = writeln!(text, "\nnodes:");
        for n in &nodes {
            let _ = writeln!(
                text,
                "  {:<30} {:>3} slots {:>5} builds {:>9.1} s busy {:>5.1}% used",
                n.name,
                n.slots,
                n.builds,
                n.busy,
                n.utilisation * 100.0
            );
        }
    }
    let records: Vec<Record<'_>> = packages
        .iter()
        .map(|p| Record {
            pkgpath: &p.pkgpath,
            pkgname: &p.pkgname,
            status: p.status.as_deref().unwrap_or("not built"),
            cause: p.cause.as_deref(),
            reason: p.reason.as_deref(),
            make_jobs: p.make_jobs,
            duration: p.duration,
            log: log_link(bulk, p),
            node: p.node.as_deref(),
        })
        .collect();
    fs_err::write(bulk.dir.join("report.txt"), &text)?;
    fs_err::write(
        bulk.dir.join("report.json"),
        serde_json::to_string_pretty(&records)? + "\n",
    )?;
    fs_err::write(
        bulk.dir.join("report.html"),
        html(&records, &counts, &nodes),
    )?;
    print!("{text}");
    crate::output::inform!("reports in {}", bulk.dir.join("report.html").display());
    Ok(())
}

fn html(records: &[Record<'_>], counts: &BTreeMap<&str, usize>, nodes: &[NodeUse]) -> String {
    let mut node_rows = String::new();
    for n in nodes {
        let _ = writeln!(
            node_rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1} s</td><td>{:.1}%</td></tr>",
            escape(&n.name),
            n.slots,
            n.builds,
            n.busy,
            n.utilisation * 100.0
        );
    }
    let node_table = if nodes.is_empty() {
        String::new()
    } else {
        format!(
            "<table id=\"nodes\"><thead><tr><th>node</th><th>slots</th><th>builds</th><th>busy</th><th>utilisation</th></tr></thead>\n<tbody>\n{node_rows}</tbody></table>\n<p></p>\n"
        )
    };
    let mut rows = String::new();
    for r in records {
        let link = r.log.as_deref().map_or_else(String::new, |l| {
            format!("<a href=\"{}\">log</a>", escape(l))
        });
        let detail = match (r.cause, r.reason) {
            (Some(c), _) => format!("because of {c}"),
            (None, Some(why)) => why.lines().next().unwrap_or_default().to_owned(),
            _ => String::new(),
        };
        let _ = writeln!(
            rows,
            "<tr class=\"{status}\"><td>{path}</td><td>{name}</td><td class=\"status\">{status}</td><td data-v=\"{secs}\">{dur}</td><td>{jobs}</td><td>{node}</td><td>{detail}</td><td>{link}</td></tr>",
            status = escape(r.status),
            path = escape(r.pkgpath),
            name = escape(r.pkgname),
            secs = r.duration.unwrap_or(-1.0),
            dur = r.duration.map_or_else(String::new, |d| format!("{d:.1} s")),
            jobs = r.make_jobs.map_or_else(String::new, |m| m.to_string()),
            detail = escape(&detail),
            node = escape(r.node.unwrap_or_default()),
        );
    }
    let summary: Vec<String> = counts
        .iter()
        .map(|(s, n)| format!("<span class=\"{}\">{n} {}</span>", escape(s), escape(s)))
        .collect();
    format!(
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>depot bulk report</title>
<style>
body {{ font-family: sans-serif; margin: 1em; }}
table {{ border-collapse: collapse; }}
th, td {{ padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: left; }}
th {{ cursor: pointer; background: #eee; }}
.failed .status, .prefailed .status {{ color: #b00; font-weight: bold; }}
.indirect-failed .status, .indirect-prefailed .status {{ color: #a60; }}
.built .status {{ color: #070; }}
#summary span {{ margin-right: 1em; }}
</style></head>
<body>
<h1>depot bulk report</h1>
<p id="summary">{summary}</p>
{node_table}<table id="packages">
<thead><tr><th>path</th><th>package</th><th>status</th><th>duration</th><th>make jobs</th><th>node</th><th>detail</th><th>log</th></tr></thead>
<tbody>
{rows}</tbody></table>
<script>
document.querySelectorAll("#packages th").forEach(function (th, col) {{
  th.addEventListener("click", function () {{
    var body = document.querySelector("#packages tbody");
    var rows = Array.prototype.slice.call(body.rows);
    var up = th.dataset.up !== "1";
    th.dataset.up = up ? "1" : "0";
    rows.sort(function (a, b) {{
      var x = a.cells[col].dataset.v || a.cells[col].textContent;
      var y = b.cells[col].dataset.v || b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return up ? c : -c;
    }});
    rows.forEach(function (r) {{ body.appendChild(r); }});
  }});
}});
</script>
</body></html>
"##,
        summary = summary.join(""),
    )
}

fn find<'a>(packages: &'a [BulkPackage], name: &str) -> Option<&'a BulkPackage> {
    packages.iter().find(|p| {
        p.pkgpath == name
            || p.pkgname == name
            || p.pkgname.rsplit_once('-').is_some_and(|(b, _)| b == name)
    })
}

/// `depot bulk explain PKG`.
pub fn explain(bulk: &Bulk, name: &str) -> Result<i32> {
    let packages = bulk.packages()?;
    let Some(p) = find(&packages, name) else {
        bail!("{name}: no such package in the last scan (give category/name, PKGNAME or PKGBASE)");
    };
    // The recipe as it is now, not as the last scan saw it.
    let mut now = p.clone();
    if let Some(tree) = bulk.read()?.bulk_meta("tree")? {
        let dir = std::path::Path::new(&tree).join(&p.pkgpath);
        if let Ok(recipe) = crate::build::Recipe::load(&dir) {
            now.files = super::scan::files_text(&recipe.file_hashes);
            now.recipe_hash = recipe.hash;
        }
    }
    let p = &now;
    println!("{} ({})", p.pkgname, p.pkgpath);
    if let Some(status) = &p.status {
        println!("last bulk: {status}");
    }
    if let Some(cause) = &p.cause {
        println!("because {cause} failed");
    }
    if let Some(why) = &p.reason {
        println!("reason: {why}");
    }
    if let Some(why) = &p.prefailed {
        println!("cannot be built: {why}");
        return Ok(0);
    }
    let index = packages
        .iter()
        .position(|q| q.pkgpath == p.pkgpath)
        .unwrap_or_default();
    let deps = &dependency_names(&packages)[index];
    let settings = BuildSettings::from_env(&bulk.settings)?;
    let file = settings.package_file(&p.pkgname);
    match verdict(p, deps, &settings, false) {
        Verdict::Build(why) => println!("next bulk builds it: {why}"),
        Verdict::UpToDate(_) => println!("next bulk: up to date ({})", file.display()),
    }
    Ok(0)
}

/// `depot bulk history [--csv]`.
pub fn history(bulk: &Bulk, csv: bool) -> Result<i32> {
    let rows = bulk.read()?.bulk_history()?;
    if csv {
        println!(
            "run,pkgpath,pkgname,phase,wall_s,cpu_s,max_rss_bytes,wrkdir_bytes,make_jobs,ok,finished,node"
        );
        for r in &rows {
            println!(
                "{},{},{},{},{:.3},{:.3},{},{},{},{},{},{}",
                r.run,
                r.pkgpath,
                r.pkgname,
                r.phase,
                r.wall,
                r.cpu,
                r.max_rss,
                r.wrkdir_bytes,
                r.make_jobs,
                u8::from(r.ok),
                r.finished,
                r.node.as_deref().unwrap_or_default()
            );
        }
    } else {
        println!(
            "{:<24} {:<10} {:>9} {:>9} {:>9} {:>5}",
            "package", "phase", "wall s", "cpu s", "rss MiB", "jobs"
        );
        for r in rows.iter().filter(|r| r.phase == "total") {
            println!(
                "{:<24} {:<10} {:>9.1} {:>9.1} {:>9.1} {:>5}",
                r.pkgname,
                r.phase,
                r.wall,
                r.cpu,
                r.max_rss as f64 / 1_048_576.0,
                r.make_jobs
            );
        }
    }
    Ok(0)
}
